"""Shared steps of the checks: contract calls whose outcome is verified first, and their spans.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import grpc

from otelconform.contract import pb
from otelconform.ids import new_span_id, new_trace_id, parse_traceparent, traceparent, unique
from otelconform.observe import server_span
from otelconform.profiles import STATUS_ATTRIBUTES
from otelconform.verdicts import Mismatch, TargetUnresponsive
from otelconform_fixtures.downstream import FAIL_PREFIX


def traced_call(suite, method: str, *args, expect: grpc.StatusCode = grpc.StatusCode.OK,
                sampled: bool = True, extra=(), **kwargs):
    """Call ``method`` with a fresh traceparent; verify it ended with ``expect``.

    Returns (result, trace_id, parent_id).
    """
    trace_id, parent_id = new_trace_id(), new_span_id()
    metadata = (("traceparent", traceparent(trace_id, parent_id, sampled=sampled)), *extra)
    result = getattr(suite.client, method)(*args, metadata=metadata, **kwargs)
    return result.require(expect), trace_id, parent_id


def traced_echo_span(suite):
    """One Echo call and the span the target exported for it."""
    _, trace_id, parent_id = traced_call(suite, "echo", unique("echo"))
    return server_span(suite, trace_id, parent_id)


# Outcomes that can also mean the service never handled Fail as asked.
NOT_HANDLED = frozenset({grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.DEADLINE_EXCEEDED})


def require_fail_handled(suite, result, code: grpc.StatusCode) -> None:
    """TARGET_ERROR unless ``Fail`` answered as asked. A wrong code or message is the
    status checks' finding; but UNIMPLEMENTED and DEADLINE_EXCEEDED are also what a missing
    or hanging Fail gives, so a request for them is believed once Fail is seen to work."""
    if result.code != code:
        if result.code in NOT_HANDLED:
            result.require(code)
        return
    if code not in NOT_HANDLED:
        return
    probe = suite.once("Fail answers as asked", lambda: suite.client.fail(
        grpc.StatusCode.INVALID_ARGUMENT, unique("probe")))
    if probe.code != grpc.StatusCode.INVALID_ARGUMENT:
        probe.require(grpc.StatusCode.INVALID_ARGUMENT)


def failed_call(suite, code: grpc.StatusCode):
    """A traced ``Fail`` that must end with ``code`` and a message of the suite's."""
    message = unique("requested failure")
    result, trace_id, parent_id = traced_call(suite, "fail", code, message, expect=code)
    require_fail_handled(suite, result, code)
    return result, message, trace_id, parent_id


def relay_ending(suite, code: grpc.StatusCode, tag: str):
    """A traced Relay whose one downstream call ends with ``code`` (the suite's downstream
    fails on request); the contract says Relay then ends with that code. Returns
    (trace_id, parent_id, downstream call)."""
    payload = unique(tag) if code == grpc.StatusCode.OK else f"{FAIL_PREFIX}{code.value[0]}/{unique(tag)}"
    trace_id, parent_id = new_trace_id(), new_span_id()
    metadata = (("traceparent", traceparent(trace_id, parent_id)),)
    result = suite.client.relay(suite.downstream.address, payload, metadata=metadata)
    (call,) = downstream_calls(suite, payload, 1)[:1]
    if result.code != code:
        raise TargetUnresponsive(
            f"contract method Relay should have ended {code.name}, the code its downstream call ended "
            f"with, but ended {result.code.name}{f' ({result.details})' if result.details else ''}: a "
            f"downstream failure must end Relay with the downstream's status code (docs/target-contract.md)")
    return trace_id, parent_id, call


def untraced_sleep(suite, metadata=()):
    """A Sleep whose distinct duration identifies its span; returns (result, requested seconds)."""
    duration_ms = suite.untraced_sleep_ms()
    result = suite.client.call("Sleep", pb.SleepRequest(duration_ms=duration_ms), metadata).require()
    took_ms = (result.ended_at - result.started_at) * 1000
    if took_ms < duration_ms - 1:
        raise TargetUnresponsive(f"contract method Sleep should have taken at least {duration_ms} ms but "
                                 f"returned after {took_ms:.0f} ms: Sleep must wait duration_ms")
    return result, duration_ms / 1000


def relay(suite, tag: str, calls: int = 1, extra=()):
    """A traced Relay; verifies the downstream got every call. Returns (trace, parent, calls seen)."""
    payload = unique(tag)
    _, trace_id, parent_id = traced_call(suite, "relay", suite.downstream.address, payload, calls=calls,
                                         extra=extra)
    return trace_id, parent_id, downstream_calls(suite, payload, calls)


def downstream_calls(suite, payload: str, calls: int):
    """The calls a Relay with ``payload`` made to the suite's downstream; TARGET_ERROR when
    fewer than ``calls`` arrived, since then the relay did not happen as the contract asks."""
    observed = suite.downstream.wait_for_calls(payload, calls, suite.telemetry_timeout)
    if len(observed) < calls:
        raise TargetUnresponsive(f"contract method Relay should have called the suite's downstream "
                                 f"{calls} time(s) but called it {len(observed)} time(s): Relay must call "
                                 f"Echo on the address it is given, once per requested call")
    return observed


def outgoing_traceparent(call) -> tuple[str, str, str, str]:
    """(version, trace id, parent id, flags) of the one valid traceparent an outgoing call carries."""
    values = call.values("traceparent")
    if len(values) != 1:
        raise Mismatch(f"outgoing call: expected exactly one traceparent header, got {values!r}")
    parsed = parse_traceparent(values[0])
    if parsed is None:
        raise Mismatch(f"outgoing traceparent is not valid W3C version 00: {values[0]!r}")
    return parsed


def outcome_recorded(suite, kind: str, span, method: str, code: grpc.StatusCode) -> None:
    """MISMATCH unless ``span`` (a ``server-span`` or ``client-span``) records ``code`` in the
    profile's outcome attributes; its other attributes are other checks' findings."""
    errors = suite.profile.span_errors(kind, span.attributes, method, code, only=STATUS_ATTRIBUTES)
    if errors:
        side = "server" if kind == "server-span" else "client"
        raise Mismatch(f"{side} span of a call ending {code.name} records its outcome against the "
                       f"'{suite.profile.name}' profile: " + "; ".join(errors)
                       + f" (attributes: {span.attributes}); set the status attribute from the code the "
                       f"call actually ended with")

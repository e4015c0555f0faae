"""Shared steps of the checks: contract calls whose outcome is verified first, and their spans.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import grpc
import pytest

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


def ok_method(suite) -> str:
    """The method of a plain successful call: Echo, or in zero-contract mode the first --call
    that ends OK (as package.Service/Method)."""
    return suite.named.ok.spec.full_method if suite.named is not None else "Echo"


def traced_ok_call(suite, tag: str, sampled: bool = True, extra=()):
    """A successful call with a fresh traceparent: Echo, or the first --call that ends OK.

    Returns (result, trace_id, parent_id)."""
    if suite.named is None:
        return traced_call(suite, "echo", unique(tag), sampled=sampled, extra=extra)
    trace_id, parent_id = new_trace_id(), new_span_id()
    metadata = (("traceparent", traceparent(trace_id, parent_id, sampled=sampled)), *extra)
    named = suite.named
    return named.require(named.ok, named.make(named.ok, metadata)), trace_id, parent_id


def traced_echo_span(suite):
    """One successful call (Echo, or the first --call ending OK) and the span the target exported for it."""
    _, trace_id, parent_id = traced_ok_call(suite, "echo")
    return server_span(suite, trace_id, parent_id)


def target_service(suite) -> str | None:
    """The service.name the target's spans carry, read from its spans in the suite's own traces
    (not what the suite told it: a service that ignores OTEL_SERVICE_NAME is RES-002's finding
    alone). None until such a span has arrived, and then every span counts as the target's."""
    known = suite._target_service
    if known is None:
        names = suite.collector.suite_trace_services()
        if names:
            known = suite._target_service = names.most_common(1)[0][0]
    return known


def downstream_address(suite) -> str:
    """host:port of the downstream the target's outgoing calls go to."""
    return suite.named.downstream.address if suite.named is not None else suite.downstream.address


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


def untraced_method(suite) -> str:
    """The method of the calls made without trace context: Sleep, or in zero-contract mode the
    first --call that ends OK (the checks take turns to make them, see Suite.untraced_turn)."""
    return ok_method(suite) if suite.named is not None else "Sleep"


def untraced_sleep(suite, metadata=()):
    """A Sleep whose distinct duration identifies its span; returns (result, requested seconds).

    In zero-contract mode, the first --call that ends OK, with no requested duration: the call's
    method and its measured duration identify its span (the untraced turn keeps it alone)."""
    if suite.named is not None:
        named = suite.named
        return named.require(named.ok, named.make(named.ok, metadata)), 0.0
    duration_ms = suite.untraced_sleep_ms()
    result = suite.client.call("Sleep", pb.SleepRequest(duration_ms=duration_ms), metadata).require()
    took_ms = (result.ended_at - result.started_at) * 1000
    if took_ms < duration_ms - 1:
        raise TargetUnresponsive(f"contract method Sleep should have taken at least {duration_ms} ms but "
                                 f"returned after {took_ms:.0f} ms: Sleep must wait duration_ms")
    return result, duration_ms / 1000


def relay(suite, tag: str, calls: int = 1, extra=()):
    """A traced Relay; verifies the downstream got every call. Returns (trace, parent, calls seen)."""
    if suite.named is not None:
        return _outgoing_call(suite, extra)
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
                       f"'{suite.profile.label}' profile: " + "; ".join(errors)
                       + f" (attributes: {span.attributes}); set the status attribute from the code the "
                       f"call actually ended with")


def _outgoing_call(suite, extra=()):
    """Zero-contract mode: the --outgoing-call, traced, and the one call it made to the downstream.

    Outgoing calls are told apart by time alone (a service that drops the context sends no
    trace id to match), so the checks making them take turns."""
    named = suite.named
    if named.outgoing is None or named.downstream is None:
        pytest.skip("zero-contract mode: name the call that makes the service call its dependency with "
                    "--outgoing-call, and point that dependency at the suite's downstream (--downstream-port)")
    trace_id, parent_id = new_trace_id(), new_span_id()
    metadata = (("traceparent", traceparent(trace_id, parent_id)), *extra)
    with named.outgoing_turn:
        before = len(named.downstream.calls())
        result = named.require(named.outgoing, named.make(named.outgoing, metadata))
        # Nothing to wait for: the downstream records a call before answering it, so one made
        # while the service handled ours is here once our call has ended.
        arrived = named.downstream.calls()[before:]
    during = [c for c in arrived if result.started_at - 0.001 <= c.received_at <= result.ended_at + 0.001]
    if len(during) != 1:
        raise TargetUnresponsive(
            f"the call {named.outgoing.spec.full_method} (--outgoing-call) should have called the suite's "
            f"downstream at {named.downstream.address} once while it ran, but {len(during)} call(s) arrived "
            f"then ({len(arrived)} since it started): point the service's dependency address at "
            f"{named.downstream.address}, or name the call that makes one outgoing call")
    return trace_id, parent_id, during

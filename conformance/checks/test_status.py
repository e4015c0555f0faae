"""gRPC status codes: what the client sees and how spans record them, on both sides.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import grpc
import pytest

from otelconform.contract import full_method, pb
from otelconform.ids import new_span_id, new_trace_id, traceparent, unique
from otelconform.observe import client_span, server_span
from otelconform.profiles import SERVER_ERROR_CODES
from otelconform.registry import check
from otelconform.verdicts import Mismatch, expect_equal

from ._calls import (failed_call, outcome_recorded, relay_ending, require_fail_handled, traced_call,
                     traced_echo_span)

# Every code gRPC defines (doc/statuscodes.md), 1..16 for Fail, and OK as well where a span is judged.
CODES = [c for c in grpc.StatusCode if c != grpc.StatusCode.OK]
ALL_CODES = list(grpc.StatusCode)
GRPC_SEMCONV = "semconv docs/rpc/grpc.md §gRPC status"
UNKNOWN_METHOD = "NoSuchMethod"  # not in conformance.v1.Conformance


def _call_ending(suite, code: grpc.StatusCode):
    """(trace_id, parent_id, method, message) of a traced call that ended with ``code``, as
    verified; one per code, which the server-side checks of that code all judge."""
    if suite.named is not None and not suite.named.ending(code):
        pytest.skip(f"zero-contract mode: no --call ends {code.name}; name one that does "
                    f"(--call 'pkg.Service/Method={{...}} -> {code.name}') to judge how its span records it")
    return suite.once(f"a traced call ending {code.name}", lambda: _make_call_ending(suite, code))


def _make_call_ending(suite, code: grpc.StatusCode):
    if suite.named is not None:
        named, trace_id, parent_id = suite.named, new_trace_id(), new_span_id()
        call = named.ending(code)[0]
        result = named.make(call, (("traceparent", traceparent(trace_id, parent_id)),))
        named.require(call, result)
        return trace_id, parent_id, call.spec.full_method, result.details
    if code == grpc.StatusCode.OK:
        _, trace_id, parent_id = traced_call(suite, "echo", unique("stat"))
        return trace_id, parent_id, "Echo", ""
    _, message, trace_id, parent_id = failed_call(suite, code)
    return trace_id, parent_id, "Fail", message


def _client_span_ending(suite, code: grpc.StatusCode):
    """The client span of Relay's one outgoing call, which the downstream ended with ``code``
    (one such Relay per code, judged by STAT-004 and STAT-005 alike)."""
    trace_id, parent_id, _ = suite.once(f"a Relay whose downstream ended {code.name}",
                                        lambda: relay_ending(suite, code, "stat-client"))
    return client_span(suite, trace_id, server_span(suite, trace_id, parent_id, outgoing=True), anywhere=True)


@pytest.mark.parametrize("code", CODES, ids=lambda c: c.name)
@check("STAT-001", "MUST", "client receives exactly the status code and message the service set",
       "gRPC doc/statuscodes.md; gRPC over HTTP/2 §Responses (grpc-status, grpc-message)", "grpc",
       killed_by=("drop-status-message",),
       fix="Return the status code and message the handler sets unchanged (e.g. status.Error(code, message) in Go); "
           "make sure no interceptor, error mapper or instrumentation rewrites the code or drops the message.")
def test_stat_001_client_sees_code(suite, code):
    message = unique("requested failure")
    traced = (("traceparent", traceparent(new_trace_id(), new_span_id())),)
    result = suite.client.fail(code, message, metadata=traced)
    require_fail_handled(suite, result, code)
    expect_equal("status code the client received", code.name, result.code.name)
    expect_equal("status message the client received", message, result.details)


@pytest.mark.parametrize("code", ALL_CODES, ids=lambda c: c.name)
@check("STAT-002", "MUST", "server span records the status code in the profile's attribute",
       GRPC_SEMCONV + "; schemas/<profile>/server-span.schema.json", "traces",
       killed_by=("status-attr-ok",), zero_contract=True,
       fix="Record on the server span the status code the call ended with, in the profile's attribute: "
           "rpc.grpc.status_code as an integer (semconv-1.38) or rpc.response.status_code as the code's name, e.g. "
           "NOT_FOUND (semconv-1.44); take it from the final gRPC status, not a fixed OK.")
def test_stat_002_span_status_attribute(suite, code):
    trace_id, parent_id, method, _ = _call_ending(suite, code)
    outcome_recorded(suite, "server-span", server_span(suite, trace_id, parent_id), method, code)


@pytest.mark.parametrize("code", ALL_CODES, ids=lambda c: c.name)
@check("STAT-003", "MUST", "server span status is ERROR exactly for server-fault codes",
       GRPC_SEMCONV + " (server: ERROR only for UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, "
       "UNAVAILABLE, DATA_LOSS); OTel trace API §Set Status", "traces", killed_by=("error-status-ok",),
       zero_contract=True,
       fix="Set the server span's status to ERROR only for UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, "
           "UNAVAILABLE and DATA_LOSS, and leave it UNSET for OK and every other code (NOT_FOUND, INVALID_ARGUMENT "
           "and the like are the caller's errors, not the server's).")
def test_stat_003_server_span_status(suite, code):
    trace_id, parent_id, _, _ = _call_ending(suite, code)
    span = server_span(suite, trace_id, parent_id)
    expected = "STATUS_CODE_ERROR" if code in SERVER_ERROR_CODES else "STATUS_CODE_UNSET"
    expect_equal(f"status of the server span of a call ending {code.name}", expected, span.status)


@pytest.mark.parametrize("code", ALL_CODES, ids=lambda c: c.name)
@check("STAT-004", "MUST", "client span records the status code its call ended with, in the profile's attribute",
       GRPC_SEMCONV + "; schemas/<profile>/client-span.schema.json", "traces",
       killed_by=("client-outcome-ok",),
       fix="Record on the client span the status code the outgoing call ended with, in the profile's attribute "
           "(rpc.grpc.status_code as an integer in semconv-1.38, rpc.response.status_code as the code's name in "
           "semconv-1.44); take it from the status the call returned, not a fixed OK.")
def test_stat_004_client_span_status_attribute(suite, code):
    client = _client_span_ending(suite, code)
    outcome_recorded(suite, "client-span", client, "Echo", code)


@pytest.mark.parametrize("code", ALL_CODES, ids=lambda c: c.name)
@check("STAT-005", "MUST", "client span status is ERROR for every code but OK",
       GRPC_SEMCONV + " (client: ERROR for every non-OK code); OTel trace API §Set Status", "traces",
       killed_by=("client-outcome-ok",),
       fix="Set the client span's status to ERROR for every code but OK, and leave it UNSET when the outgoing call "
           "succeeds; end the client span from the status the call returned.")
def test_stat_005_client_span_status(suite, code):
    client = _client_span_ending(suite, code)
    expected = "STATUS_CODE_UNSET" if code == grpc.StatusCode.OK else "STATUS_CODE_ERROR"
    if client.status != expected:
        raise Mismatch(f"status of the client span of an outgoing call ending {code.name}: expected "
                       f"{expected}, got {client.status}; a client span is an error for every code but OK")


@pytest.mark.parametrize("code", sorted(SERVER_ERROR_CODES, key=lambda c: c.value[0]), ids=lambda c: c.name)
@check("STAT-006", "SHOULD", "a server span with ERROR status says why in its status description",
       "OTel trace API §Set Status (Description); semconv docs/general/recording-errors.md (set the "
       "status description when there is more to say than the code)", "traces",
       fix="Pass the gRPC status message as the description when setting the server span's status to ERROR (e.g. "
           "span.SetStatus(codes.Error, message) in Go), so that the span says why the call failed.")
def test_stat_006_error_description(suite, code):
    trace_id, parent_id, _, message = _call_ending(suite, code)
    span = server_span(suite, trace_id, parent_id)
    if span.status != "STATUS_CODE_ERROR":
        pytest.skip(f"the server span of a call ending {code.name} is not ERROR (STAT-003's finding)")
    description = span.span.status.message
    if not description:
        raise Mismatch(f"server span of a call ending {code.name} with message {message!r}: expected a "
                       f"status description (the gRPC status message, say), got none; pass the message "
                       f"when setting the ERROR status")


@check("STAT-007", "SHOULD", "a method the service does not have: the client gets UNIMPLEMENTED, and any "
       "span recorded for the call says UNIMPLEMENTED and ERROR",
       "gRPC doc/statuscodes.md (UNIMPLEMENTED: the operation is not implemented); " + GRPC_SEMCONV
       + "; semconv docs/rpc/rpc-spans.md (rpc.method '_OTHER' for a method the instrumentation does not know)",
       "traces",
       fix="Answer a method the service does not implement with UNIMPLEMENTED (the gRPC server's default for an "
           "unknown method); if a span is recorded for it, record UNIMPLEMENTED in the status attribute and set the "
           "span's status to ERROR (rpc.method may be _OTHER).")
def test_stat_007_unknown_method(suite):
    trace_id, parent_id = new_trace_id(), new_span_id()
    result = suite.client.call(UNKNOWN_METHOD, pb.EchoRequest(payload=unique("unknown")),
                               (("traceparent", traceparent(trace_id, parent_id)),))
    if result.code != grpc.StatusCode.UNIMPLEMENTED:
        raise Mismatch(f"a call to {full_method(UNKNOWN_METHOD)}, which the contract does not have: expected "
                       f"UNIMPLEMENTED, got {result.code.name} ({result.details!r}); answer a method the "
                       f"service lacks with UNIMPLEMENTED")
    # Recording no span for it is allowed. Spans leave in the order they end, so once a later
    # call's span is in, one for this call would be too (one arriving later is not judged).
    try:
        traced_echo_span(suite)
    except Mismatch as uncorrelated:
        pytest.skip(f"no later span to wait for, so whether one was recorded for this call cannot be "
                    f"told: {uncorrelated}")
    spans = [s for s in suite.collector.spans(trace_id) if s.parent_span_id == parent_id]
    if not spans:
        return
    outcome_recorded(suite, "server-span", spans[0], UNKNOWN_METHOD, grpc.StatusCode.UNIMPLEMENTED)
    expect_equal("status of the span of a call to a method the service lacks", "STATUS_CODE_ERROR",
                 spans[0].status)

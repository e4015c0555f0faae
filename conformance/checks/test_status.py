"""gRPC status codes: what the client sees and how spans record them.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import grpc
import pytest

from otelconform.ids import new_span_id, new_trace_id, traceparent, unique
from otelconform.observe import server_span
from otelconform.profiles import SERVER_ERROR_CODES
from otelconform.registry import check
from otelconform.verdicts import Mismatch, expect_equal

from ._calls import failed_call, traced_call

CODES = [grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED,
         grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE]
GRPC_SEMCONV = "semconv docs/rpc/grpc.md §gRPC status"


# Outcomes that mean the service never handled Fail as asked, whatever code was requested.
NOT_HANDLED = {grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.DEADLINE_EXCEEDED}


def _call_ending(suite, code: grpc.StatusCode):
    """(trace_id, parent_id, method) of a traced call that ended with ``code``, as verified."""
    if code == grpc.StatusCode.OK:
        _, trace_id, parent_id = traced_call(suite, "echo", unique("stat"))
        return trace_id, parent_id, "Echo"
    _, _, trace_id, parent_id = failed_call(suite, code)
    return trace_id, parent_id, "Fail"


@pytest.mark.parametrize("code", CODES, ids=lambda c: c.name)
@check("STAT-001", "MUST", "client receives exactly the status code and message the service set",
       "gRPC doc/statuscodes.md; gRPC over HTTP/2 §Responses (grpc-status, grpc-message)", "grpc",
       killed_by=("drop-status-message",))
def test_stat_001_client_sees_code(suite, code):
    message = unique("requested failure")
    traced = (("traceparent", traceparent(new_trace_id(), new_span_id())),)
    result = suite.client.fail(code, message, metadata=traced)
    if result.code in NOT_HANDLED and result.code != code:
        result.require(code)  # TARGET_ERROR: Fail is missing or did not answer
    expect_equal("status code the client received", code.name, result.code.name)
    expect_equal("status message the client received", message, result.details)


@pytest.mark.parametrize("code", [grpc.StatusCode.OK, *CODES], ids=lambda c: c.name)
@check("STAT-002", "MUST", "server span records the status code in the profile's attribute",
       GRPC_SEMCONV + "; schemas/<profile>/server-span.schema.json", "traces",
       killed_by=("status-attr-ok",))
def test_stat_002_span_status_attribute(suite, code):
    trace_id, parent_id, method = _call_ending(suite, code)
    span = server_span(suite, trace_id, parent_id)
    errors = suite.profile.span_errors("server-span", span.attributes, method, code)
    if errors:
        raise Mismatch(f"server span of a call ending {code.name} breaks the '{suite.profile.name}' "
                       f"profile: " + "; ".join(errors) + f" (attributes: {span.attributes})")


@pytest.mark.parametrize("code", [grpc.StatusCode.OK, *CODES], ids=lambda c: c.name)
@check("STAT-003", "MUST", "server span status is ERROR exactly for server-fault codes",
       GRPC_SEMCONV + " (server: ERROR only for UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, "
       "UNAVAILABLE, DATA_LOSS); OTel trace API §Set Status", "traces", killed_by=("error-status-ok",))
def test_stat_003_server_span_status(suite, code):
    trace_id, parent_id, _ = _call_ending(suite, code)
    span = server_span(suite, trace_id, parent_id)
    expected = "STATUS_CODE_ERROR" if code in SERVER_ERROR_CODES else "STATUS_CODE_UNSET"
    expect_equal(f"status of the server span of a call ending {code.name}", expected, span.status)

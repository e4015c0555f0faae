"""gRPC status codes: what the client sees and how spans record them."""
from __future__ import annotations

import grpc
import pytest

from otelconform.ids import unique
from otelconform.observe import span_for_call
from otelconform.profiles import SERVER_ERROR_CODES
from otelconform.registry import check
from otelconform.verdicts import Mismatch, expect_equal

from ._calls import traced_call

CODES = [grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED,
         grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE]
GRPC_SEMCONV = "semconv docs/rpc/grpc.md §gRPC status"


def _failed_call(suite, code: grpc.StatusCode):
    message = unique("requested failure")
    result, trace_id, parent_id = traced_call(suite, "fail", code, message)
    return result, message, trace_id, parent_id


@pytest.mark.parametrize("code", CODES, ids=lambda c: c.name)
@check("STAT-001", "MUST", "client receives exactly the status code and message the service set",
       "gRPC doc/statuscodes.md; gRPC over HTTP/2 §Responses (grpc-status, grpc-message)", "grpc",
       killed_by=("drop-status-message",))
def test_stat_001_client_sees_code(suite, code):
    result, message, _, _ = _failed_call(suite, code)
    expect_equal("status code the client received", code.name, result.code.name)
    expect_equal("status message the client received", message, result.details)


@pytest.mark.parametrize("code", [grpc.StatusCode.OK, *CODES], ids=lambda c: c.name)
@check("STAT-002", "MUST", "server span records the status code in the profile's attribute",
       GRPC_SEMCONV + "; schemas/<profile>/server-span.schema.json", "traces",
       killed_by=("status-attr-ok",))
def test_stat_002_span_status_attribute(suite, code):
    if code == grpc.StatusCode.OK:
        result, trace_id, parent_id = traced_call(suite, "echo", unique("stat-002"))
        method = "Echo"
    else:
        result, _, trace_id, parent_id = _failed_call(suite, code)
        method = "Fail"
    span = span_for_call(suite.collector, trace_id, parent_id, suite.telemetry_timeout)
    errors = suite.profile.span_errors("server-span", span.attributes, method, code)
    if errors:
        raise Mismatch(f"server span of a call ending {code.name} breaks the '{suite.profile.name}' "
                       f"profile: " + "; ".join(errors) + f" (attributes: {span.attributes})")


@pytest.mark.parametrize("code", [grpc.StatusCode.OK, *CODES], ids=lambda c: c.name)
@check("STAT-003", "MUST", "server span status is ERROR exactly for server-fault codes",
       GRPC_SEMCONV + " (server: ERROR only for UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, "
       "UNAVAILABLE, DATA_LOSS); OTel trace API §Set Status", "traces", killed_by=("error-status-ok",))
def test_stat_003_server_span_status(suite, code):
    if code == grpc.StatusCode.OK:
        _, trace_id, parent_id = traced_call(suite, "echo", unique("stat-003"))
    else:
        _, _, trace_id, parent_id = _failed_call(suite, code)
    span = span_for_call(suite.collector, trace_id, parent_id, suite.telemetry_timeout)
    expected = "STATUS_CODE_ERROR" if code in SERVER_ERROR_CODES else "STATUS_CODE_UNSET"
    expect_equal(f"status of the server span of a call ending {code.name}", expected, span.status)

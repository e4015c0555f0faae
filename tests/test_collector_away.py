"""The port that stands in for an away collector: it cuts every connection unanswered, and
knows which export (path and body) it cut, over HTTP/1.1 and over gRPC."""
from __future__ import annotations

import gzip
import http.client
import json

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from otelconform.ids import new_span_id, new_trace_id
from otelconform_fixtures.collector import FakeCollector
from otelconform_fixtures.collector_away import AwayPort

TRACES = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@pytest.fixture
def away():
    port = AwayPort()
    yield port
    port.close()


def test_an_http_export_is_cut_and_recorded_with_its_body(away):
    trace_id = new_trace_id()
    body = gzip.compress(b'{"resourceSpans": [{"traceId": "%s"}]}' % trace_id.encode())
    connection = http.client.HTTPConnection("127.0.0.1", away.port, timeout=5)
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
        connection.request("POST", "/v1/traces", body, {"Content-Encoding": "gzip"})
        connection.getresponse()
    tried = away.wait_for(lambda t: t.path == "/v1/traces" and t.carries(trace_id), timeout=5)
    assert tried is not None and tried.path == "/v1/traces" and tried.carries(trace_id)
    assert not tried.carries(new_trace_id())


def test_a_grpc_export_is_cut_unanswered_and_recorded(away):
    trace_id = new_trace_id()
    message = b"\n\x12" + bytes.fromhex(trace_id)  # any bytes holding the id will do
    with grpc.insecure_channel(f"127.0.0.1:{away.port}") as channel:
        call = channel.unary_unary(TRACES)
        with pytest.raises(grpc.RpcError) as failure:
            call(message, timeout=5)
    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
    tried = away.wait_for(lambda t: t.path.endswith(TRACES) and t.carries(trace_id), timeout=5)
    assert tried is not None and tried.carries(trace_id)


def test_an_export_of_other_spans_is_not_taken_for_the_call(away):
    with grpc.insecure_channel(f"127.0.0.1:{away.port}") as channel:
        with pytest.raises(grpc.RpcError):
            channel.unary_unary(TRACES)(b"other spans", timeout=5)
    assert away.wait_for(lambda t: t.carries(new_trace_id()), timeout=0.2) is None
    assert away.tried and away.tried[0].path == TRACES


def test_closing_frees_the_port_for_the_collector(away):
    port = away.port
    away.close()
    collector = FakeCollector(grpc_port=port).start()
    try:
        assert collector.grpc_port == port
    finally:
        collector.stop()


def _request(trace_id: str, span_id: str) -> trace_service_pb2.ExportTraceServiceRequest:
    request = trace_service_pb2.ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = bytes.fromhex(trace_id), bytes.fromhex(span_id), "cut"
    return request


def test_the_spans_of_a_whole_grpc_export_are_known_and_a_foreign_body_holds_none(away):
    trace_id, span_id = new_trace_id(), new_span_id()
    # A channel per export: a channel whose connection was cut backs off and fails the next
    # call without connecting.
    for message in (_request(trace_id, span_id).SerializeToString(), b"\xff not protobuf"):
        with grpc.insecure_channel(f"127.0.0.1:{away.port}") as channel:
            with pytest.raises(grpc.RpcError):
                channel.unary_unary(TRACES)(message, timeout=5)
    assert away.wait_for(lambda t: len(away.tried) >= 2, timeout=5) is not None
    assert away.tried[0].spans("grpc") == [(trace_id, span_id)]
    assert away.tried[1].spans("grpc") == []


def test_the_spans_of_a_gzipped_http_json_export_are_known(away):
    trace_id, span_id = new_trace_id(), new_span_id()
    document = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": trace_id, "spanId": span_id, "name": "cut"}]}]}]}).encode()
    connection = http.client.HTTPConnection("127.0.0.1", away.port, timeout=5)
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
        connection.request("POST", "/v1/traces", gzip.compress(document),
                           {"Content-Encoding": "gzip", "Content-Type": "application/json"})
        connection.getresponse()
    tried = away.wait_for(lambda t: t.path == "/v1/traces", timeout=5)
    assert tried is not None and tried.spans("http/json") == [(trace_id, span_id)]
    assert tried.spans("http/protobuf") == []

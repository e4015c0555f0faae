"""The one port that takes either OTLP transport: each export reaches the receiver of the
transport it really used, so a service exporting over the wrong one is seen at once."""
from __future__ import annotations

import http.client
import json
import socket

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otelconform.ids import new_span_id, new_trace_id
from otelconform_fixtures.transport_front import TransportFront


@pytest.fixture
def front(collector):
    f = TransportFront(collector.grpc_port, collector.http.port)
    yield f
    f.close()


def _export_one_span(exporter) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("unit").start_as_current_span("unit/Span"):
        pass
    provider.shutdown()


def test_a_grpc_export_reaches_the_grpc_receiver(collector, front):
    _export_one_span(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{front.port}", insecure=True))
    assert [e.transport for e in collector.exports("traces")] == ["grpc"]


def test_an_http_protobuf_export_reaches_the_http_receiver(collector, front):
    _export_one_span(HttpSpanExporter(endpoint=f"http://127.0.0.1:{front.port}/v1/traces"))
    assert [e.transport for e in collector.exports("traces")] == ["http/protobuf"]


def test_http_json_on_a_kept_alive_connection_is_answered_and_kept_each_time(collector, front):
    connection = http.client.HTTPConnection("127.0.0.1", front.port, timeout=5)
    trace_ids = [new_trace_id() for _ in range(2)]
    for trace_id in trace_ids:
        document = {"resourceSpans": [{"scopeSpans": [{"spans": [
            {"traceId": trace_id, "spanId": new_span_id(), "name": "json"}]}]}]}
        connection.request("POST", "/v1/traces", json.dumps(document), {"Content-Type": "application/json"})
        assert connection.getresponse().read() is not None
    connection.close()
    assert [e.transport for e in collector.exports("traces")] == ["http/json", "http/json"]
    assert all(collector.spans(t) for t in trace_ids)


def test_closing_cuts_open_connections_and_frees_the_port(front):
    connection = http.client.HTTPConnection("127.0.0.1", front.port, timeout=5)
    connection.request("POST", "/v1/traces", b"{}", {"Content-Type": "application/json"})
    connection.getresponse().read()  # routed and answered; the connection stays open
    port = front.port
    front.close()
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
        connection.request("POST", "/v1/traces", b"{}", {"Content-Type": "application/json"})
        connection.getresponse()
    connection.close()
    with socket.create_server(("127.0.0.1", port)):
        pass

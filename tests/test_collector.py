"""The fake collector receives what real OTLP exporters send, over gRPC and HTTP."""
from __future__ import annotations

import gzip
import json
import threading
import time
import urllib.error
import urllib.request

import grpc
import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor



def _export_one_span(endpoint: str, name: str = "unit/Span") -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "unit"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True,
                                                                     headers={"x-tenant": "t1"})))
    with provider.get_tracer("unit").start_as_current_span(name):
        pass
    provider.shutdown()


def test_grpc_export_is_kept_raw_decoded_and_indexed(collector):
    _export_one_span(collector.endpoint())
    (export,) = collector.exports("traces")
    assert export.transport == "grpc" and export.error is None
    assert ("x-tenant", "t1") in export.metadata
    assert trace_service_pb2.ExportTraceServiceRequest.FromString(export.raw) == export.request
    (span,) = collector.spans()
    assert span.name == "unit/Span" and span.resource["service.name"] == "unit"
    assert collector.spans(span.trace_id) == [span]


def test_garbage_is_refused_and_recorded_as_undecodable(collector):
    with grpc.insecure_channel(f"127.0.0.1:{collector.grpc_port}") as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        with pytest.raises(grpc.RpcError) as err:
            export(b"\xff\xffgarbage", timeout=5)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    (bad,) = collector.undecodable("traces")
    assert bad.raw == b"\xff\xffgarbage" and "undecodable" in bad.error
    assert collector.spans() == []


def test_wait_for_returns_as_soon_as_the_condition_holds(collector):
    threading.Timer(0.2, _export_one_span, args=(collector.endpoint(),)).start()
    started = time.monotonic()
    spans = collector.wait_for(collector.spans, timeout=30)
    assert spans and time.monotonic() - started < 10


def test_wait_for_gives_up_at_the_timeout(collector):
    started = time.monotonic()
    assert collector.wait_for(collector.spans, timeout=0.3) == []
    assert 0.3 <= time.monotonic() - started < 5


def _otlp_json_request(trace_id: str) -> bytes:
    request = {"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "json-svc"}}]},
        "scopeSpans": [{"scope": {"name": "s"}, "spans": [{
            "traceId": trace_id, "spanId": "00f067aa0ba902b7", "parentSpanId": "",
            "name": "pkg.Svc/M", "kind": 2, "startTimeUnixNano": "1", "endTimeUnixNano": "2"}]}]}]}
    return json.dumps(request).encode()


def _post(collector, path: str, body: bytes, content_type: str, encoding: str | None = None):
    request = urllib.request.Request(f"{collector.endpoint('http')}{path}", data=body, method="POST",
                                     headers={"Content-Type": content_type,
                                              **({"Content-Encoding": encoding} if encoding else {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_http_json_with_hex_ids(collector):
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    status, _ = _post(collector, "/v1/traces", _otlp_json_request(trace_id), "application/json")
    assert status == 200
    (span,) = collector.spans(trace_id)
    assert span.span_id == "00f067aa0ba902b7" and span.kind == "SPAN_KIND_SERVER"
    assert span.transport == "http/json"


def test_http_protobuf_gzip(collector):
    request = json_format.Parse(_otlp_json_request("ab" * 16).decode().replace(
        '"traceId": "' + "ab" * 16 + '"', '"traceId": "q6urq6urq6urq6urq6urqw=="').replace(
        '"spanId": "00f067aa0ba902b7"', '"spanId": "APBnqguQArc="'),
        trace_service_pb2.ExportTraceServiceRequest())
    status, _ = _post(collector, "/v1/traces", gzip.compress(request.SerializeToString()),
                      "application/x-protobuf", "gzip")
    assert status == 200
    assert collector.spans("ab" * 16)[0].transport == "http/protobuf"


def test_http_rejects_decompression_bomb_and_bad_requests(collector):
    bomb = gzip.compress(b"\0" * (65 * 1024 * 1024))
    assert _post(collector, "/v1/traces", bomb, "application/x-protobuf", "gzip")[0] == 413
    assert _post(collector, "/v1/nope", b"{}", "application/json")[0] == 404
    assert _post(collector, "/v1/traces", b"{}", "text/plain")[0] == 415
    assert _post(collector, "/v1/traces", b'{"resourceSpans": 7}', "application/json")[0] == 400
    assert collector.undecodable("traces")


def test_exports_further_apart_than_half_the_timeout_are_reported_once_with_the_variable():
    from otelconform.observe import SignalWatch
    from otelconform_fixtures.collector import FakeCollector

    empty = trace_service_pb2.ExportTraceServiceRequest().SerializeToString()
    paced, slow = FakeCollector(), FakeCollector()
    for i in range(4):
        paced.record("traces", "grpc", empty, (), received_at=1000.0 + 0.05 * i)
        slow.record("traces", "grpc", empty, (), received_at=1000.0 + 5.0 * i)  # an SDK's 5 s default
    assert SignalWatch(paced, 4.0, "").slow_exports() is None
    message = SignalWatch(slow, 4.0, "").slow_exports()
    assert "traces every 5.0s (set OTEL_BSP_SCHEDULE_DELAY=50 or less)" in message
    assert "--telemetry-timeout" in message


def test_a_signal_exported_once_late_in_a_short_run_is_reported_too():
    """A 60 s metric interval in a 20 s attach run leaves one export: no pace to measure, but
    its delay after the suite's first call shows the same."""
    from otelconform.observe import SignalWatch
    from otelconform_fixtures.collector import FakeCollector

    empty = metrics_service_pb2.ExportMetricsServiceRequest().SerializeToString()
    prompt, late = FakeCollector(), FakeCollector()
    prompt.record("metrics", "grpc", empty, (), received_at=1000.5)
    late.record("metrics", "grpc", empty, (), received_at=1007.0)
    assert SignalWatch(prompt, 4.0, "").slow_exports(first_call=1000.0) is None
    assert SignalWatch(late, 4.0, "").slow_exports() is None  # no call made: nothing to measure from
    message = SignalWatch(late, 4.0, "").slow_exports(first_call=1000.0)
    assert "the first metrics export 7.0s after the suite's first call, 1 in the run" in message
    assert "OTEL_METRIC_EXPORT_INTERVAL=50" in message

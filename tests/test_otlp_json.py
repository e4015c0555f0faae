"""OTLP/JSON decoding as the OTLP specification maps it (protocol/otlp.md §JSON Protobuf
Encoding): the same messages protobuf's own JSON parser gives for valid bodies, hex ids of
the right length only, integer enums only, unknown field names ignored and named."""
from __future__ import annotations

import base64
import json

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from otelconform.ids import new_span_id, new_trace_id
from otelconform_fixtures.collector import FakeCollector
from otelconform_fixtures.otlp_json import OtlpJsonError, parse_otlp_json

TRACES = trace_service_pb2.ExportTraceServiceRequest
METRICS = metrics_service_pb2.ExportMetricsServiceRequest
LOGS = logs_service_pb2.ExportLogsServiceRequest


def _otlp_json(message) -> dict:
    """The OTLP/JSON form of ``message``: proto3 JSON with hex ids and integer enums."""
    def hexed(node):
        if isinstance(node, dict):
            return {k: base64.b64decode(v).hex() if k in ("traceId", "spanId", "parentSpanId") else hexed(v)
                    for k, v in node.items()}
        if isinstance(node, list):
            return [hexed(v) for v in node]
        return node
    return hexed(json_format.MessageToDict(message, use_integers_for_enums=True))


def _traces() -> TRACES:
    request = TRACES()
    resource_spans = request.resource_spans.add(schema_url="https://opentelemetry.io/schemas/1.27.0")
    resource_spans.resource.attributes.add(key="service.name").value.string_value = "unit"
    scope = resource_spans.scope_spans.add()
    scope.scope.name = "unit"
    span = scope.spans.add(trace_id=bytes.fromhex(new_trace_id()), span_id=bytes.fromhex(new_span_id()),
                           parent_span_id=bytes.fromhex(new_span_id()), name="conformance.v1.Conformance/Echo",
                           kind=2, start_time_unix_nano=1_700_000_000_000_000_000,
                           end_time_unix_nano=1_700_000_000_000_000_123)
    span.attributes.add(key="rpc.grpc.status_code").value.int_value = 14
    span.attributes.add(key="ratio").value.double_value = 0.25
    span.attributes.add(key="ok").value.bool_value = True
    span.attributes.add(key="blob").value.bytes_value = b"\x00\xffbytes"
    array = span.attributes.add(key="list").value.array_value
    array.values.add().string_value = "a"
    array.values.add().int_value = -3
    span.events.add(name="message", time_unix_nano=1_700_000_000_000_000_050)
    span.links.add(trace_id=bytes.fromhex(new_trace_id()), span_id=bytes.fromhex(new_span_id()))
    span.status.code = 2
    span.status.message = "unavailable"
    return request


def _metrics() -> METRICS:
    request = METRICS()
    metric = request.resource_metrics.add().scope_metrics.add().metrics.add(name="rpc.server.duration", unit="ms")
    metric.histogram.aggregation_temporality = 2
    point = metric.histogram.data_points.add(count=3, sum=7.5, min=0.5, max=4.0, time_unix_nano=2**63 - 1)
    point.bucket_counts.extend([1, 0, 2])
    point.explicit_bounds.extend([1.0, 5.0])
    point.exemplars.add(trace_id=bytes.fromhex(new_trace_id()), span_id=bytes.fromhex(new_span_id()), as_double=4.0)
    gauge = request.resource_metrics[0].scope_metrics[0].metrics.add(name="process.memory.usage", unit="By")
    gauge.gauge.data_points.add(as_int=2**40)
    return request


def _logs() -> LOGS:
    request = LOGS()
    record = request.resource_logs.add().scope_logs.add().log_records.add(
        severity_number=9, severity_text="INFO", trace_id=bytes.fromhex(new_trace_id()),
        span_id=bytes.fromhex(new_span_id()), flags=1)
    record.body.string_value = "hello"
    request.resource_logs[0].scope_logs[0].log_records.add(severity_number=13).body.string_value = "no context"
    return request


@pytest.mark.parametrize("message", [_traces(), _metrics(), _logs()], ids=["traces", "metrics", "logs"])
def test_a_valid_body_decodes_to_the_message_it_was_made_from(message):
    raw = json.dumps(_otlp_json(message)).encode()
    assert parse_otlp_json(raw, type(message)) == message


def test_ids_are_case_insensitive_hex_and_64_bit_integers_may_be_numbers():
    trace_id, span_id = new_trace_id(), new_span_id()
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": trace_id.upper(), "spanId": span_id, "startTimeUnixNano": 5, "endTimeUnixNano": "6"}]}]}]}
    span = parse_otlp_json(json.dumps(body).encode(), TRACES).resource_spans[0].scope_spans[0].spans[0]
    assert (span.trace_id.hex(), span.span_id.hex(), span.start_time_unix_nano, span.end_time_unix_nano) == \
        (trace_id, span_id, 5, 6)


@pytest.mark.parametrize("span, reason", [
    ({"traceId": "0af7651916cd43dd", "spanId": "b7ad6b7169203331"}, "32 hex digits"),  # an 8-byte trace id
    ({"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b71"}, "16 hex digits"),  # 4 bytes
    ({"traceId": "0af7651916cd43dd8448eb211c80319z", "spanId": "b7ad6b7169203331"}, "32 hex digits"),
    ({"traceId": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", "spanId": "b7ad6b7169203331"}, "hex"),  # base64
    ({"kind": "SPAN_KIND_SERVER"}, "enums must be integers"),
    ({"startTimeUnixNano": "soon"}, "expected an integer"),
    ({"name": 7}, "expected a string"),
    ({"attributes": {"key": "k"}}, "expected a list"),
])
def test_bad_data_is_refused_with_where_and_why(span, reason):
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    with pytest.raises(OtlpJsonError) as refused:
        parse_otlp_json(json.dumps(body).encode(), TRACES)
    assert reason in str(refused.value) and str(refused.value).startswith("resourceSpans.scopeSpans.spans.")


def test_not_json_is_refused():
    with pytest.raises(OtlpJsonError, match="not JSON"):
        parse_otlp_json(b"\x0a\x02not json", TRACES)


def test_unknown_names_are_ignored_and_named_snake_case_included():
    trace_id = new_trace_id()
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": trace_id, "spanId": new_span_id(), "name": "kept", "futureField": {"x": 1},
         "span_id": "ffffffffffffffff"}]}]}], "extra": 1}
    ignored: list[str] = []
    span = parse_otlp_json(json.dumps(body).encode(), TRACES, ignored).resource_spans[0].scope_spans[0].spans[0]
    assert span.name == "kept" and span.trace_id.hex() == trace_id
    assert ignored == ["Span.futureField", "Span.span_id", "ExportTraceServiceRequest.extra"]


def test_the_collector_keeps_what_it_ignored_and_refuses_bad_ids_as_undecodable():
    collector = FakeCollector()
    good = {"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": new_trace_id(), "spanId": new_span_id(), "newIdea": True}]}]}]}
    assert collector.record("traces", "http/json", json.dumps(good).encode(), ()) is None
    bad = {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "00" * 8, "spanId": new_span_id()}]}]}]}
    error = collector.record("traces", "http/json", json.dumps(bad).encode(), ())
    assert error and "32 hex digits" in error
    first, second = collector.exports("traces")
    assert first.ignored_fields == ("Span.newIdea",) and first.error is None
    assert second.request is None and collector.undecodable("traces") == [second]


def test_the_report_names_the_ignored_fields_once_for_the_session():
    from otelconform.report import session_lines

    (line,) = session_lines({"ignored_fields": ["Span.span_id", "Span.futureField"]})
    assert "Span.span_id, Span.futureField" in line and "lowerCamelCase" in line
    assert session_lines({"ignored_fields": []}) == []

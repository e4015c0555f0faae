"""Writes the seed corpus: the hostile cases the collector was measured against, and a valid
export of each signal and transport for the fuzzer to start mutating from.

    .venv/bin/python tests/fuzz/make_corpus.py   # rewrites tests/fuzz/corpus/

Deterministic (no randomness), so the committed files change only when this script does.
"""
from __future__ import annotations

import base64
import gzip
import json
import sys
from pathlib import Path

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script or imported by tests
from decode_fuzz import SIGNALS, TRANSPORTS  # noqa: E402

CORPUS = Path(__file__).resolve().parent / "corpus"
TRACE_ID, SPAN_ID = bytes(range(1, 17)), bytes(range(0xa1, 0xa9))


def first_byte(signal: str, transport: str, gzipped: bool = False) -> bytes:
    return bytes([SIGNALS.index(signal) + 3 * TRANSPORTS.index(transport) + 9 * gzipped])


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def nested_array_value(depth: int) -> bytes:
    """A trace export whose one attribute nests array values ``depth`` deep."""
    inner = b""
    for _ in range(depth):  # AnyValue.array_value (5) -> ArrayValue.values (1) -> AnyValue
        inner = b"\x2a" + _varint(len(b"\x0a" + _varint(len(inner)) + inner)) + b"\x0a" + _varint(len(inner)) + inner
    kv = b"\x0a\x01a" + b"\x12" + _varint(len(inner)) + inner  # KeyValue{key, value}
    span = b"\x0a\x10" + TRACE_ID + b"\x12\x08" + SPAN_ID + b"\x2a\x01s" + b"\x4a" + _varint(len(kv)) + kv
    scope_spans = b"\x12" + _varint(len(span)) + span
    resource_spans = b"\x12" + _varint(len(scope_spans)) + scope_spans
    return b"\x0a" + _varint(len(resource_spans)) + resource_spans


def valid_requests() -> dict[str, object]:
    traces = trace_service_pb2.ExportTraceServiceRequest()
    span = traces.resource_spans.add().scope_spans.add().spans.add(trace_id=TRACE_ID, span_id=SPAN_ID, name="Echo",
                                                                   kind=2, start_time_unix_nano=1, end_time_unix_nano=2)
    span.attributes.add(key="rpc.system").value.string_value = "grpc"
    logs = logs_service_pb2.ExportLogsServiceRequest()
    logs.resource_logs.add().scope_logs.add().log_records.add(trace_id=TRACE_ID, span_id=SPAN_ID,
                                                              body={"string_value": "hello"})
    metrics = metrics_service_pb2.ExportMetricsServiceRequest()
    metric = metrics.resource_metrics.add().scope_metrics.add().metrics.add(name="rpc.server.duration", unit="ms")
    metric.histogram.data_points.add(count=1, sum=2.0, bucket_counts=[1], explicit_bounds=[])
    return {"traces": traces, "logs": logs, "metrics": metrics}


def as_json(message) -> bytes:
    from google.protobuf import json_format

    document = json_format.MessageToDict(message, use_integers_for_enums=True)
    # OTLP/JSON writes ids as hex, where protobuf's JSON mapping writes base64.
    ids = {base64.b64encode(TRACE_ID).decode(): TRACE_ID.hex(), base64.b64encode(SPAN_ID).decode(): SPAN_ID.hex()}
    text = json.dumps(document)
    for b64, hexed in ids.items():
        text = text.replace(f'"{b64}"', f'"{hexed}"')
    return text.encode()


def cases() -> dict[str, bytes]:
    out = {}
    for signal, request in valid_requests().items():
        raw = request.SerializeToString()
        out[f"valid-{signal}-grpc"] = first_byte(signal, "grpc") + raw
        out[f"valid-{signal}-http-protobuf-gzip"] = first_byte(signal, "http/protobuf", True) + gzip.compress(raw, mtime=0)
        out[f"valid-{signal}-http-json"] = first_byte(signal, "http/json") + as_json(request)
        out[f"truncated-{signal}"] = first_byte(signal, "grpc") + raw[: len(raw) // 2]
    out["random-bytes"] = first_byte("traces", "grpc") + bytes((i * 131 + 7) % 256 for i in range(256))
    out["nested-10000-deep"] = first_byte("traces", "grpc") + nested_array_value(10_000)
    out["nested-40-deep"] = first_byte("traces", "grpc") + nested_array_value(40)  # within upb's limit
    out["gzip-bomb"] = first_byte("traces", "http/protobuf", True) + gzip.compress(b"\0" * (2 << 20), mtime=0)
    out["gzip-garbage"] = first_byte("logs", "grpc", True) + b"\x1f\x8b\x08\x00garbage"
    json_traces = as_json(valid_requests()["traces"]).decode()
    out["json-short-trace-id"] = first_byte("traces", "http/json") + json_traces.replace(TRACE_ID.hex(), "0102030405060708").encode()
    out["json-short-span-id"] = first_byte("traces", "http/json") + json_traces.replace(SPAN_ID.hex(), "a1a2a3a4").encode()
    out["json-enum-as-name"] = first_byte("traces", "http/json") + json_traces.replace('"kind": 2', '"kind": "SPAN_KIND_SERVER"').encode()
    out["json-unknown-field"] = first_byte("traces", "http/json") + json_traces.replace('{"resourceSpans"', '{"resource_spans_typo": 1, "resourceSpans"').encode()
    out["json-nested-10000-deep"] = first_byte("traces", "http/json") + b"[" * 10_000 + b"]" * 10_000
    out["json-kvlist-2000-deep"] = first_byte("traces", "http/json") + (
        '{"resourceSpans":[{"resource":{"attributes":[{"key":"a","value":'
        + '{"kvlistValue":{"values":[{"key":"a","value":' * 2000 + "{}" + "}]}}" * 2000 + "}]}}]}").encode()
    out["json-huge-integer"] = first_byte("traces", "http/json") + json_traces.replace('"kind": 2', '"kind": 99999999999999999999').encode()
    out["json-not-utf8"] = first_byte("logs", "http/json") + b'{"resourceLogs": "\xff\xfe"}'
    return out


def main() -> None:
    CORPUS.mkdir(exist_ok=True)
    for old in CORPUS.iterdir():
        old.unlink()
    for name, data in cases().items():
        (CORPUS / name).write_bytes(data)
    print(f"wrote {len(cases())} seeds to {CORPUS}")


if __name__ == "__main__":
    main()

"""The collector's memory cap: the suite's traces kept whole, the oldest of the rest dropped
and counted, the drop reported once for the session."""
from __future__ import annotations

import secrets

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from otelconform.report import session_lines
from otelconform_fixtures.collector import FakeCollector
from otelconform_fixtures.otlp import SUITE_MARKER
from otelconform_fixtures.retention import ITEM_OVERHEAD_BYTES, KeepWhole

SPANS_PER_EXPORT = 50


def _traces(trace_id: bytes, spans: int = SPANS_PER_EXPORT) -> bytes:
    request = trace_service_pb2.ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for _ in range(spans):
        scope.spans.add(trace_id=trace_id, span_id=secrets.token_bytes(8), name="flood")
    return request.SerializeToString()


def _foreign_id() -> bytes:
    while True:
        trace_id = secrets.token_bytes(16)
        if not trace_id.startswith(SUITE_MARKER):
            return trace_id


def _suite_id() -> bytes:
    return SUITE_MARKER + secrets.token_bytes(14)


def _cap_for(exports: int) -> int:
    """A cap that holds about ``exports`` trace exports of the foreign shape."""
    return exports * (len(_traces(_foreign_id())) + ITEM_OVERHEAD_BYTES * SPANS_PER_EXPORT)


def test_under_the_cap_everything_is_kept():
    collector = FakeCollector(memory_cap_bytes=_cap_for(20))
    for _ in range(10):
        collector.record("traces", "grpc", _traces(_foreign_id()), ())
    assert len(collector.spans()) == 10 * SPANS_PER_EXPORT
    assert not collector.dropped()


def test_past_the_cap_the_oldest_foreign_exports_go_and_the_suite_traces_stay():
    collector = FakeCollector(memory_cap_bytes=_cap_for(10))
    suite_ids = []
    foreign_ids = []
    for i in range(100):
        if i % 10 == 0:
            suite_ids.append(_suite_id())
            collector.record("traces", "grpc", _traces(suite_ids[-1], 2), ())
        foreign_ids.append(_foreign_id())
        collector.record("traces", "grpc", _traces(foreign_ids[-1]), ())

    for trace_id in suite_ids:  # every one of them, the first included
        assert len(collector.spans(trace_id.hex())) == 2
    kept = {s.trace_id for s in collector.spans() if not s.span.trace_id.startswith(SUITE_MARKER)}
    assert 5 <= len(kept) <= 10, len(kept)
    assert kept == {t.hex() for t in foreign_ids[-len(kept):]}, "the newest are kept, the oldest dropped"
    assert not collector.spans(foreign_ids[0].hex())
    dropped = collector.dropped()
    assert dropped.exports["traces"] == 100 - len(kept)
    assert dropped.items["traces"] == (100 - len(kept)) * SPANS_PER_EXPORT
    assert len(collector.exports()) == len(suite_ids) + len(kept)
    assert "--collector-memory" in dropped.describe(collector.memory_cap_bytes)


def test_a_log_record_in_a_suite_trace_keeps_its_export():
    collector = FakeCollector(memory_cap_bytes=_cap_for(2))
    request = logs_service_pb2.ExportLogsServiceRequest()
    request.resource_logs.add().scope_logs.add().log_records.add(trace_id=_suite_id(), body={"string_value": "ours"})
    collector.record("logs", "grpc", request.SerializeToString(), ())
    for _ in range(20):
        collector.record("traces", "grpc", _traces(_foreign_id()), ())
    assert [r.body for r in collector.logs()] == ["ours"]
    assert collector.dropped().exports["traces"] > 0


def test_undecodable_exports_count_towards_the_cap():
    collector = FakeCollector(memory_cap_bytes=1024 * 1024)
    junk = b"\xff" * 64 * 1024
    for _ in range(40):
        collector.record("traces", "grpc", junk, ())
    assert collector.dropped().exports["traces"] > 0
    assert 0 < len(collector.undecodable()) < 40


def test_the_report_says_once_what_was_dropped():
    collector = FakeCollector(memory_cap_bytes=_cap_for(2))
    for _ in range(10):
        collector.record("traces", "grpc", _traces(_foreign_id()), ())
    text = collector.dropped().describe(collector.memory_cap_bytes)
    lines = [line for line in session_lines({"dropped": text}) if "memory cap" in line]
    assert len(lines) == 1
    assert f"{collector.dropped().items['traces']} spans" in lines[0]


def test_a_flood_of_spans_leaves_the_metrics_alone():
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

    collector = FakeCollector(memory_cap_bytes=_cap_for(4))
    request = metrics_service_pb2.ExportMetricsServiceRequest()
    request.resource_metrics.add().scope_metrics.add().metrics.add(name="rpc.server.duration")
    collector.record("metrics", "grpc", request.SerializeToString(), ())
    for _ in range(50):
        collector.record("traces", "grpc", _traces(_foreign_id()), ())
    assert [m.name for m in collector.metrics()] == ["rpc.server.duration"]
    assert collector.dropped().exports["traces"] > 0 and not collector.dropped().exports["metrics"]


def test_spans_the_session_names_keep_their_export():
    collector = FakeCollector(memory_cap_bytes=_cap_for(2), keep_whole=KeepWhole(frozenset({"Echo"})))
    request = trace_service_pb2.ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.add(trace_id=_foreign_id(), span_id=b"\1" * 8, name="Echo")
    collector.record("traces", "grpc", request.SerializeToString(), ())
    for _ in range(30):
        collector.record("traces", "grpc", _traces(_foreign_id()), ())
    assert [s.name for s in collector.spans() if s.name == "Echo"] == ["Echo"]


def test_spans_of_one_foreign_trace_and_since_a_moment():
    collector = FakeCollector()
    ids = [_foreign_id() for _ in range(5)]
    for i, trace_id in enumerate(ids):
        collector.record("traces", "grpc", _traces(trace_id, 3), (), received_at=100.0 + i)
    assert len(collector.spans(ids[2].hex())) == 3
    assert len(collector.spans(ids[2].hex().upper())) == 3
    assert {s.trace_id for s in collector.spans(since=103.0)} == {ids[3].hex(), ids[4].hex()}
    assert collector.spans(ids[1].hex(), since=103.0) == []
    assert collector.spans("not hex") == []

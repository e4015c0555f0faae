"""The collector's OTLP/gRPC receiver in a process of its own (what a session runs): what it
receives is recorded in the suite's process exactly as an in-process receiver records it."""
from __future__ import annotations

import gzip
import secrets
import socket

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from otelconform_fixtures.collector import FakeCollector
from otelconform_fixtures.otlp import SUITE_MARKER
from otelconform_fixtures.ports import PortInUse
from otelconform_fixtures.retention import ITEM_OVERHEAD_BYTES, KeepWhole

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _traces(trace_id: bytes, name: str = "flood", spans: int = 20) -> bytes:
    request = trace_service_pb2.ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for _ in range(spans):
        scope.spans.add(trace_id=trace_id, span_id=secrets.token_bytes(8), name=name)
    return request.SerializeToString()


def _foreign_id() -> bytes:
    while True:
        trace_id = secrets.token_bytes(16)
        if not trace_id.startswith(SUITE_MARKER):
            return trace_id


def _send(collector, body: bytes, metadata=()):
    with grpc.insecure_channel(f"127.0.0.1:{collector.grpc_port}") as channel:
        return channel.unary_unary(EXPORT)(body, timeout=10, metadata=metadata)


@pytest.fixture
def own_process():
    collector = FakeCollector(own_process=True, keep_whole=KeepWhole(frozenset({"Echo"}))).start()
    yield collector
    collector.stop()


def test_an_export_is_recorded_raw_with_its_metadata_and_found_by_its_suite_trace(own_process):
    suite_trace = SUITE_MARKER + secrets.token_bytes(14)
    body = _traces(suite_trace, spans=3)
    _send(own_process, body, metadata=(("x-tenant", "t1"),))
    spans = own_process.wait_for(lambda: own_process.spans(suite_trace.hex()), timeout=10, signal="traces")
    assert len(spans) == 3
    (export,) = own_process.exports("traces")
    assert export.raw == body and export.transport == "grpc" and ("x-tenant", "t1") in export.metadata


def test_garbage_is_refused_by_the_child_and_recorded_as_undecodable(own_process):
    with pytest.raises(grpc.RpcError) as err:
        _send(own_process, b"\xff\xffgarbage")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = own_process.wait_for(lambda: own_process.undecodable("traces"), timeout=10)
    assert [b.raw for b in bad] == [b"\xff\xffgarbage"] and "undecodable" in bad[0].error


def test_a_gzip_bomb_is_refused_before_it_is_forwarded(own_process):
    bomb = gzip.compress(b"\0" * (65 * 2**20))
    with pytest.raises(grpc.RpcError) as err:
        _send(own_process, bomb)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    _send(own_process, _traces(_foreign_id()))
    own_process.stop()  # everything answered is recorded once stop returns
    assert [e.compression for e in own_process.exports("traces")] == [""]


def test_stop_returns_once_every_answered_export_is_recorded():
    collector = FakeCollector(own_process=True).start()
    for _ in range(50):
        _send(collector, _traces(_foreign_id()))
    collector.stop()
    assert len(collector.exports("traces")) == 50


def test_keep_whole_names_reach_the_child_and_the_cap_still_applies():
    per_export = len(_traces(_foreign_id())) + ITEM_OVERHEAD_BYTES * 20
    collector = FakeCollector(own_process=True, memory_cap_bytes=2 * per_export).start()
    try:
        collector.keep_whole_also({"Custom"})
        _send(collector, _traces(_foreign_id(), name="Custom", spans=1))
        for _ in range(20):
            _send(collector, _traces(_foreign_id()))
    finally:
        collector.stop()
    assert [s.name for s in collector.spans() if s.name == "Custom"] == ["Custom"]
    assert collector.dropped().exports["traces"] > 0


def test_a_port_in_use_is_the_same_clear_error():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(PortInUse, match=f"127.0.0.1:{port}: the port is in use"):
            FakeCollector(grpc_port=port, own_process=True).start()


def test_a_fault_plan_needs_the_in_process_receiver():
    from otelconform_fixtures.faults import FaultPlan

    with pytest.raises(ValueError, match="in-process"):
        FakeCollector(faults=FaultPlan(None), own_process=True)

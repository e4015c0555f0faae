"""The any-method downstream of zero-contract mode, against real grpcio clients on 127.0.0.1."""
from __future__ import annotations

import os
import socket
import threading
import time
from concurrent import futures

import grpc
import pytest
from google.protobuf.descriptor_pb2 import FileDescriptorProto
from grpc_health.v1 import health_pb2

from otelconform_fixtures.any_downstream import AnyDownstream
from otelconform_fixtures.ports import PortInUse

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def downstream():
    with AnyDownstream() as server:
        yield server


@pytest.fixture
def channel(downstream):
    with grpc.insecure_channel(downstream.address) as channel:
        yield channel


def _call(channel: grpc.Channel, path: str, request: bytes = b"", metadata=(), timeout: float = 10):
    return channel.unary_unary(path)(request, metadata=metadata, timeout=timeout)


def test_any_method_is_answered_with_an_empty_message_and_recorded(downstream, channel):
    before = time.time()
    assert _call(channel, "/a.B/C", b"abc", [("traceparent", TRACEPARENT), ("k-bin", b"\x00\x01")], timeout=7) == b""
    # An empty message is a valid answer of every response type.
    typed = channel.unary_unary("/demo.v1.Files/Get", request_serializer=FileDescriptorProto.SerializeToString,
                                response_deserializer=FileDescriptorProto.FromString)
    assert typed(FileDescriptorProto(), timeout=10) == FileDescriptorProto()
    first, second = downstream.calls()
    assert (first.method, first.request_size, second.method, second.request_size) == \
        ("/a.B/C", 3, "/demo.v1.Files/Get", 0)
    assert first.values("traceparent") == [TRACEPARENT] and first.values("k-bin") == [b"\x00\x01"]
    assert before <= first.received_at <= second.received_at <= time.time()
    # grpc-timeout is sent rounded up (10 s arrived as 10.1 s): a bound, not an exact value.
    assert 6 < first.time_remaining <= 7.5 and 9 < second.time_remaining <= 10.5
    assert downstream.calls("a.B/C") == downstream.calls("/a.B/C") == [first]  # span-name form too


def test_a_health_check_is_told_serving(downstream, channel):
    check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                                response_deserializer=health_pb2.HealthCheckResponse.FromString)
    assert check(health_pb2.HealthCheckRequest(), timeout=10).status == health_pb2.HealthCheckResponse.SERVING
    assert [c.method for c in downstream.calls()] == ["/grpc.health.v1.Health/Check"]


def test_a_call_without_deadline_records_none(downstream, channel):
    channel.unary_unary("/a.B/C")(b"")
    assert downstream.calls()[0].time_remaining is None


def test_status_per_method_and_for_all_others(downstream, channel):
    downstream.answer(grpc.StatusCode.NOT_FOUND, "no such user", method="a.B/Get")
    with pytest.raises(grpc.RpcError) as caught:
        _call(channel, "/a.B/Get")
    assert (caught.value.code(), caught.value.details()) == (grpc.StatusCode.NOT_FOUND, "no such user")
    assert _call(channel, "/a.B/Other") == b""

    downstream.answer(grpc.StatusCode.UNAVAILABLE, "down")
    with pytest.raises(grpc.RpcError) as caught:
        _call(channel, "/a.B/Other")
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    with pytest.raises(grpc.RpcError) as caught:
        _call(channel, "/a.B/Get")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND  # its own answer still holds

    downstream.answer(grpc.StatusCode.OK, method="/a.B/Get")
    assert _call(channel, "/a.B/Get") == b""
    assert [c.method for c in downstream.calls()] == ["/a.B/Get", "/a.B/Other", "/a.B/Other", "/a.B/Get", "/a.B/Get"]


def test_a_fixed_port_in_use_is_a_clear_error(downstream):
    with pytest.raises(PortInUse) as caught:
        AnyDownstream(port=downstream.port).start()
    message = str(caught.value)
    assert caught.value.port == downstream.port
    assert (f"the suite's any-method downstream cannot listen on 127.0.0.1:{downstream.port}: "
            f"the port is in use") in message
    assert f"held by pid {os.getpid()}" in message and "choose another port" in message

    with socket.socket() as holder:  # not a grpc server: nothing it could share the port with
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        with pytest.raises(PortInUse, match=f"127.0.0.1:{holder.getsockname()[1]}: the port is in use"):
            AnyDownstream(port=holder.getsockname()[1]).start()


def test_a_fixed_free_port_is_used():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with AnyDownstream(port=port) as server, grpc.insecure_channel(server.address) as channel:
        assert (server.port, server.address) == (port, f"127.0.0.1:{port}")
        assert _call(channel, "/a.B/C") == b""


def test_wait_for_returns_as_soon_as_a_call_arrives(downstream, channel):
    go = threading.Event()

    def caller():
        go.wait(10)
        _call(channel, "/late.Svc/Call")

    thread = threading.Thread(target=caller)
    thread.start()
    try:
        started = time.monotonic()
        go.set()
        calls = downstream.wait_for(lambda: downstream.calls("/late.Svc/Call"), timeout=30)
        assert len(calls) == 1 and time.monotonic() - started < 10
    finally:
        thread.join(10)
    started = time.monotonic()
    assert downstream.wait_for(lambda: downstream.calls("/never.Svc/Call"), timeout=0.2) == []
    assert 0.2 <= time.monotonic() - started < 5


def test_concurrent_calls_are_all_recorded(downstream, channel):
    with futures.ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda i: _call(channel, f"/load.Svc/M{i % 3}", bytes(i)), range(60)))
    calls = downstream.wait_for_calls(60, timeout=10)
    assert len(calls) == 60 and sorted(c.request_size for c in calls) == list(range(60))
    assert len(downstream.calls("/load.Svc/M0")) == 20
    assert len(downstream.wait_for_calls(99, timeout=0.1, method="/load.Svc/M1")) == 20  # what arrived, at the timeout


def test_stop_closes_the_port():
    server = AnyDownstream().start()
    with grpc.insecure_channel(server.address) as channel:
        assert _call(channel, "/a.B/C") == b""
        server.stop()
        with pytest.raises(grpc.RpcError) as caught:
            _call(channel, "/a.B/C", timeout=5)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    server.stop()  # twice is harmless

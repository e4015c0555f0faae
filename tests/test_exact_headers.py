"""The exact-header client against real HTTP/2 servers: the suite's downstream, nothing
listening, and a server that answers a request twice (as gRPC C-core 1.51 does when it refuses
request metadata over its limit)."""
from __future__ import annotations

import socket
import threading

import grpc
import h2.config
import h2.connection
import h2.events
import pytest

from otelconform.client import TargetClient
from otelconform.exact_headers import ExactHeaderClient
from otelconform_fixtures.downstream import DownstreamServer


@pytest.fixture(scope="module")
def downstream():
    server = DownstreamServer().start()
    yield server
    server.stop()


def test_exact_headers_arrive_exactly(downstream):
    """Repeated keys, their order, tabs, empty values and surrounding whitespace all survive:
    what neither grpcio nor grpclib's own client can send."""
    client = ExactHeaderClient(TargetClient(downstream.address, 5))
    sent = (("traceparent", "00-a"), ("tracestate", "x=1 \t, y=2"), ("traceparent", "00-b"),
            ("tracestate", ""), ("baggage", " k=v\t"))
    result = client.echo("exact-1", metadata=sent)
    assert result.code == grpc.StatusCode.OK and result.responses[0].payload == "exact-1"
    (call,) = downstream.calls("exact-1")
    assert tuple(m for m in call.metadata if m[0] in ("traceparent", "tracestate", "baggage")) == sent
    assert call.values("traceparent") == ["00-a", "00-b"]


def test_exact_client_reports_status_and_refusal(downstream):
    client = ExactHeaderClient(TargetClient(downstream.address, 5))
    failed = client.echo("fail-with-code:5/x")
    assert (failed.code, failed.details, failed.refused) == (grpc.StatusCode.NOT_FOUND,
                                                             "downstream failure requested by the suite", False)
    nobody = ExactHeaderClient(TargetClient("127.0.0.1:1", 5)).echo("x")
    assert nobody.code == grpc.StatusCode.UNAVAILABLE and nobody.refused


class AnswersTwice:
    """Answers every request with a trailers-only RESOURCE_EXHAUSTED, then repeats the answer on
    the ended stream: a protocol error (RFC 9113 §5.1) after a complete answer."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.requests = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock):
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        with sock:
            while data := sock.recv(65536):
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        self.requests += 1
                        answer = [(":status", "200"), ("content-type", "application/grpc"),
                                  ("grpc-status", "8"), ("grpc-message", "metadata too large")]
                        conn.send_headers(event.stream_id, answer, end_stream=True)
                        sock.sendall(conn.data_to_send() * 2)
                sock.sendall(conn.data_to_send())

    def close(self):
        self.listener.close()


def test_a_repeated_answer_does_not_hide_the_first():
    server = AnswersTwice()
    try:
        client = ExactHeaderClient(TargetClient(server.address, 5))
        results = [client.echo("x") for _ in range(3)]
        assert [(r.code, r.details, r.refused) for r in results] == \
            [(grpc.StatusCode.RESOURCE_EXHAUSTED, "metadata too large", False)] * 3
        assert server.requests == 3
        client.close()
    finally:
        server.close()

"""The OTLP/HTTP receiver against what a target may throw at it (each defect measured on the
hand-rolled receiver it replaced has a test here): limits applied while reading, chunked
bodies, malformed headers, a thousand connections at once, slow clients, and OTLP's answers:
a google.rpc.Status in the request's own encoding for every refusal."""
from __future__ import annotations

import http.client
import json
import socket
import threading

import pytest
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from otelconform.ids import new_span_id, new_trace_id

JSON = {"Content-Type": "application/json"}


def _document(trace_id: str, span_id: str | None = None) -> bytes:
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": trace_id, "spanId": span_id or new_span_id(), "name": "http"}]}]}]}).encode()


def _raw_exchange(port: int, request: bytes, timeout: float = 5) -> bytes:
    """Send ``request`` as is and read until the server closes or answers one response."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(request)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = connection.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


def _status_line(response: bytes) -> str:
    return response.split(b"\r\n", 1)[0].decode()


def test_a_huge_content_length_is_refused_before_the_body_is_read(collector):
    head = (b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            b"Content-Length: 1073741824\r\n\r\n")
    # Only 1 KB of the body is ever sent: an answer at all says it was refused unread.
    response = _raw_exchange(collector.http.port, head + b"\0" * 1024)
    assert _status_line(response).startswith("HTTP/1.1 413")
    assert collector.exports() == []


@pytest.mark.parametrize("length", [b"abc", b"-1"])
def test_a_malformed_content_length_gets_a_400_answer(collector, length):
    request = (b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
               + length + b"\r\n\r\n{}")
    assert _status_line(_raw_exchange(collector.http.port, request)).split()[1] == "400"


def test_a_chunked_export_is_kept_whole(collector):
    trace_id = new_trace_id()
    body = _document(trace_id)
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:10], body[10:])) + b"0\r\n\r\n"
    request = (b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n" + chunks)
    assert _status_line(_raw_exchange(collector.http.port, request)).startswith("HTTP/1.1 200")
    assert len(collector.spans(trace_id)) == 1


def test_a_thousand_exporters_at_once_are_all_answered(collector):
    port, results = collector.http.port, []

    def export() -> None:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
            connection.request("POST", "/v1/traces", _document(new_trace_id()), JSON)
            results.append(connection.getresponse().status)
            connection.close()
        except OSError as exc:
            results.append(repr(exc))

    threads = [threading.Thread(target=export) for _ in range(1000)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results.count(200) == 1000, sorted(set(map(str, results)))
    assert len(collector.exports("traces")) == 1000


def test_slow_clients_neither_block_an_export_nor_take_a_thread_each(collector):
    before = threading.active_count()
    slow = []
    for _ in range(500):
        connection = socket.create_connection(("127.0.0.1", collector.http.port), timeout=5)
        connection.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n")  # and never the rest
        slow.append(connection)
    try:
        trace_id = new_trace_id()
        # A receiver blocked by the slow clients would let this time out.
        connection = http.client.HTTPConnection("127.0.0.1", collector.http.port, timeout=5)
        connection.request("POST", "/v1/traces", _document(trace_id), JSON)
        assert connection.getresponse().status == 200
        assert collector.spans(trace_id)
        assert threading.active_count() - before < 10
    finally:
        for connection in slow:
            connection.close()


@pytest.mark.parametrize("content_type", ["application/json", "application/x-protobuf"])
def test_a_refusal_is_a_status_in_the_requests_encoding(collector, content_type):
    connection = http.client.HTTPConnection("127.0.0.1", collector.http.port, timeout=5)
    body = b"{not json" if content_type == "application/json" else b"\xff\xff\xff"
    connection.request("POST", "/v1/traces", body, {"Content-Type": content_type})
    response = connection.getresponse()
    assert response.status == 400 and response.getheader("Content-Type") == content_type
    payload = response.read()
    status = (json_format.Parse(payload, status_pb2.Status()) if content_type == "application/json"
              else status_pb2.Status.FromString(payload))
    assert "undecodable traces export" in status.message
    (bad,) = collector.undecodable("traces")
    assert bad.raw == body


def test_json_ids_of_the_wrong_length_are_bad_data_kept_as_undecodable(collector):
    connection = http.client.HTTPConnection("127.0.0.1", collector.http.port, timeout=5)
    connection.request("POST", "/v1/traces", _document("00" * 8, "00" * 4), JSON)
    response = connection.getresponse()
    assert response.status == 400 and "32 hex digits" in json.loads(response.read())["message"]
    assert collector.spans() == [] and len(collector.undecodable("traces")) == 1


def test_a_protobuf_export_is_answered_in_protobuf(collector):
    request = trace_service_pb2.ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.add(trace_id=bytes(range(1, 17)), span_id=bytes(range(1, 9)))
    connection = http.client.HTTPConnection("127.0.0.1", collector.http.port, timeout=5)
    connection.request("POST", "/v1/traces", request.SerializeToString(), {"Content-Type": "application/x-protobuf"})
    response = connection.getresponse()
    assert response.status == 200 and response.getheader("Content-Type") == "application/x-protobuf"
    assert trace_service_pb2.ExportTraceServiceResponse.FromString(response.read()) == \
        trace_service_pb2.ExportTraceServiceResponse()

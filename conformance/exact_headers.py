"""A gRPC client that sends request metadata exactly as given, on the h2 HTTP/2 library.

grpcio keeps only the last of repeated ``traceparent`` values and refuses a tab or an
empty value, and grpclib refuses tabs and empty values too, so neither can send the W3C
test vectors (duplicated headers, several ``tracestate`` fields, whitespace). This client
speaks gRPC's HTTP/2 mapping itself, with h2's header validation turned off, so every
key, value, repetition and their order reach the target unchanged.

A request the target's HTTP/2 or gRPC layer refuses (a stream reset, a non-200 answer) is
a result too, marked ``refused``: for a header that RFC 9113 or gRPC's grammar forbids
(surrounding whitespace, a tab), refusing it is one of the outcomes a check accepts.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import socket
import struct
import threading
import time
from urllib.parse import unquote

import grpc
import h2.config
import h2.connection
import h2.events
import h2.exceptions

from .client import CallResult, ContractCalls
from .contract import SERVICE, pb

_CODES = {c.value[0]: c for c in grpc.StatusCode}
# gRPC's mapping of an HTTP status that is not 200 (doc/http-grpc-status-mapping.md).
_HTTP_CODES = {400: grpc.StatusCode.INTERNAL, 401: grpc.StatusCode.UNAUTHENTICATED,
               403: grpc.StatusCode.PERMISSION_DENIED, 404: grpc.StatusCode.UNIMPLEMENTED,
               429: grpc.StatusCode.UNAVAILABLE, 502: grpc.StatusCode.UNAVAILABLE,
               503: grpc.StatusCode.UNAVAILABLE, 504: grpc.StatusCode.UNAVAILABLE}
_RESPONSES = {"Relay": pb.RelayResponse, "Echo": pb.EchoResponse, "Sleep": pb.SleepResponse}


class ExactHeaderClient(ContractCalls):
    """Unary contract calls, each thread on an HTTP/2 connection of its own (calls run concurrently)."""

    def __init__(self, main):
        # Calls land in the main client's history, counts and capture, so a check's evidence,
        # the call counts and a replay see them like any other call.
        self._main = main
        self.address = main.address
        self.call_timeout = main.call_timeout
        self._local = threading.local()
        self._connections: list[_Connection] = []
        self._lock = threading.Lock()

    def call(self, method: str, request, metadata=(), timeout: float | None = None,
             grpc_timeout: float | None = None) -> CallResult:
        """``grpc_timeout`` is the deadline the request states (by default ``timeout``, how long
        this client waits): stating a shorter one leaves the target's own deadline to end the call."""
        if method not in _RESPONSES:
            raise ValueError(f"the exact-header client makes unary calls only, not {method}")
        timeout = timeout or self.call_timeout
        started = time.time()
        code, details, refused, payloads = self._exchange(method, request, tuple(metadata), timeout,
                                                          grpc_timeout or timeout)
        responses = [_RESPONSES[method].FromString(p) for p in payloads[:1]] if code == grpc.StatusCode.OK else []
        result = CallResult(method, code, details, responses, started, time.time(), tuple(metadata),
                            refused=refused)
        with self._main._lock:
            self._main.calls_made[(method, code.name)] += 1
            self._main.history.append(result)
        if self._main.recorder is not None:
            self._main.recorder.record_call(result)
        return result

    def _exchange(self, method, request, metadata, timeout, grpc_timeout):
        deadline = time.monotonic() + timeout
        path, message = f"/{SERVICE}/{method}", request.SerializeToString()
        connection = getattr(self._local, "connection", None)
        if connection is not None and connection.usable:
            outcome = connection.request(path, metadata, message, deadline, grpc_timeout)
            if outcome is not _UNSENT:
                return outcome
            # The target closed this idle connection before reading the request: send it again.
        try:
            connection = self._local.connection = _Connection(self.address, timeout, self._main.tls)
        except OSError as exc:
            return grpc.StatusCode.UNAVAILABLE, f"cannot connect to {self.address}: {exc}", True, []
        with self._lock:
            self._connections.append(connection)
        outcome = connection.request(path, metadata, message, deadline, grpc_timeout)
        if outcome is _UNSENT:
            return grpc.StatusCode.UNAVAILABLE, "the target closed the connection without answering", True, []
        return outcome

    def close(self) -> None:
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()


# A request the target provably never read (the connection ended before it, or GOAWAY's
# last stream id is lower), so sending it again on a new connection cannot repeat it.
_UNSENT = object()


class _Connection:
    """One HTTP/2 connection, one request at a time; unusable once the target ends it or a
    request on it went wrong (the next call then opens a new one)."""

    def __init__(self, address: str, timeout: float, tls=None):
        host, _, port = address.rpartition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            self.sock = tls.wrap(self.sock, host)
        config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                           validate_outbound_headers=False, normalize_outbound_headers=False,
                                           validate_inbound_headers=False, normalize_inbound_headers=False)
        self.conn = h2.connection.H2Connection(config)
        self.conn.initiate_connection()
        self.authority = address
        self.usable = True
        self.unparsed = bytearray()  # received bytes not yet given to h2: at most a partial frame

    def close(self) -> None:
        self.usable = False
        self.sock.close()

    def request(self, path: str, metadata, message: bytes, deadline: float, grpc_timeout: float):
        try:
            outcome = _Exchange(self, deadline).run(path, metadata, message, grpc_timeout)
        except OSError as exc:
            outcome = grpc.StatusCode.UNAVAILABLE, f"connection failed: {exc}", True, []
        if outcome is _UNSENT or not self.usable or outcome[2] or outcome[0] in (grpc.StatusCode.DEADLINE_EXCEEDED,
                                                               grpc.StatusCode.UNKNOWN):
            self.close()  # a refusal or a broken answer: start the next call afresh
        return outcome


class _Exchange:
    """One request on a connection, read until its stream ends, resets or times out."""

    def __init__(self, connection: _Connection, deadline: float):
        self.connection, self.conn, self.sock = connection, connection.conn, connection.sock
        self.deadline = deadline
        self.stream = 0
        self.answered = False  # any frame of this stream arrived
        self.headers: dict[str, str] = {}
        self.body = bytearray()

    def run(self, path: str, metadata, message: bytes, grpc_timeout: float):
        conn = self.conn
        stream = self.stream = conn.get_next_available_stream_id()
        conn.send_headers(stream, [(":method", "POST"), (":scheme", "http"), (":path", path),
                                   (":authority", self.connection.authority),
                                   ("content-type", "application/grpc"), ("te", "trailers"),
                                   ("grpc-timeout", f"{max(1, int(grpc_timeout * 1000))}m"), *metadata])
        conn.send_data(stream, b"\x00" + struct.pack(">I", len(message)) + message, end_stream=True)
        self.sock.sendall(conn.data_to_send())
        while True:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                return grpc.StatusCode.DEADLINE_EXCEEDED, "no answer before the call's deadline", False, []
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError as exc:
                return _UNSENT if self._unread() else (grpc.StatusCode.UNAVAILABLE, f"connection failed: {exc}",
                                                       True, [])
            if not data:
                return _UNSENT if self._unread() else (
                    grpc.StatusCode.UNAVAILABLE, "the target closed the connection without answering", True, [])
            outcome = self._receive(data)
            pending = conn.data_to_send()
            if pending and self.connection.usable:
                self.sock.sendall(pending)
            if outcome is not None:
                return outcome

    def _receive(self, data: bytes):
        """Give h2 the received bytes one frame at a time, so the answer is judged on the first
        frames that end the stream: a target that then sends more on the ended stream (gRPC
        C-core 1.51 repeats a trailers-only refusal) breaks the connection, not the answer."""
        buffer = self.connection.unparsed
        buffer += data
        outcome = None
        while len(buffer) >= 9:
            size = 9 + int.from_bytes(buffer[:3], "big")
            if len(buffer) < size:
                break
            frame = bytes(buffer[:size])
            del buffer[:size]
            try:
                events = self.conn.receive_data(frame)
            except h2.exceptions.ProtocolError as exc:
                self.connection.usable = False
                if outcome is not None:
                    return outcome
                detail = (f"a frame on stream {exc.stream_id} after it ended"
                          if isinstance(exc, h2.exceptions.StreamClosedError) else str(exc) or type(exc).__name__)
                return grpc.StatusCode.INTERNAL, f"the target's HTTP/2 answer is malformed: {detail}", True, []
            if outcome is None:
                outcome = self._handle(events)
            elif any(isinstance(e, h2.events.ConnectionTerminated) for e in events):
                self.connection.usable = False
        return outcome

    def _unread(self) -> bool:
        """Did the connection end before the target could have read this request? Only a
        reused connection can be found closed so; a first request always counts as read."""
        return not self.answered and self.stream > 1

    def _handle(self, events):
        for event in events:
            if getattr(event, "stream_id", None) == self.stream:
                self.answered = True
            if isinstance(event, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
                self.headers.update((k, v) for k, v in event.headers)
            elif isinstance(event, h2.events.DataReceived):
                self.body += event.data
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamReset) and event.stream_id == self.stream:
                name = getattr(event.error_code, "name", event.error_code)
                code = (grpc.StatusCode.UNAVAILABLE if name == "REFUSED_STREAM" else
                        grpc.StatusCode.CANCELLED if name == "CANCEL" else grpc.StatusCode.INTERNAL)
                return code, f"the target reset the request stream ({name})", True, []
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.connection.usable = False
                if event.last_stream_id is not None and event.last_stream_id < self.stream and not self.answered:
                    return _UNSENT
                name = getattr(event.error_code, "name", event.error_code)
                return grpc.StatusCode.UNAVAILABLE, f"the target closed the connection ({name})", True, []
            elif isinstance(event, h2.events.StreamEnded) and event.stream_id == self.stream:
                return self._status()
        return None

    def _status(self):
        http_status = self.headers.get(":status", "")
        if http_status != "200":
            code = _HTTP_CODES.get(int(http_status) if http_status.isdigit() else 0, grpc.StatusCode.UNKNOWN)
            return code, f"the target answered HTTP status {http_status or '(none)'}", True, []
        status = self.headers.get("grpc-status")
        if status is None or not status.isdigit():
            return grpc.StatusCode.UNKNOWN, f"the answer has no valid grpc-status ({status!r})", False, []
        details = unquote(self.headers.get("grpc-message", ""))
        return _CODES.get(int(status), grpc.StatusCode.UNKNOWN), details, False, _messages(bytes(self.body))


def _messages(body: bytes) -> list[bytes]:
    """The length-prefixed messages of a gRPC response body (uncompressed, as the contract's are)."""
    out, offset = [], 0
    while offset + 5 <= len(body):
        length = struct.unpack(">I", body[offset + 1:offset + 5])[0]
        out.append(body[offset + 5:offset + 5 + length])
        offset += 5 + length
    return out

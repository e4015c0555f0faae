"""Sends OTLP/gRPC trace exports to a collector as fast as asked, for the flood and ingest benches.

Each export carries ``--batch`` spans of a shape like the references' server spans, in traces
the suite never started (so a collector keeps them only within its memory cap). Requests are
serialised once, before the clock starts, so the flooder's own cost is the gRPC call alone.

    .venv/bin/python bench/flooder.py --target 127.0.0.1:4317 --spans-per-second 100000
    .venv/bin/python bench/flooder.py --target 127.0.0.1:4317 --seconds 20   # as fast as it goes
    .venv/bin/python bench/flooder.py --target 127.0.0.1:4317 --spans 2000000

Runs for ``--seconds``, until ``--spans`` were accepted, or until its stdin closes (how a bench
stops it: no signal to race), then prints one JSON line: spans sent and accepted, exports
refused, seconds. This is a load generator for benchmarks, not a test.
"""
from __future__ import annotations

import argparse
import json
import secrets
import sys
import threading
import time

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
SUITE_MARKER = bytes.fromhex("5c0f")  # trace ids starting so are the suite's: never sent here
DISTINCT_REQUESTS = 4  # per connection


def _trace_id() -> bytes:
    while True:
        trace_id = secrets.token_bytes(16)
        if not trace_id.startswith(SUITE_MARKER):
            return trace_id


def _value(v) -> common_pb2.AnyValue:
    return common_pb2.AnyValue(int_value=v) if isinstance(v, int) else common_pb2.AnyValue(string_value=v)


def export_request(spans: int) -> bytes:
    request = trace_service_pb2.ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    for key, value in {"service.name": "flood", "service.version": "1.0.0",
                       "service.instance.id": secrets.token_hex(8)}.items():
        resource_spans.resource.attributes.add(key=key, value=_value(value))
    scope = resource_spans.scope_spans.add()
    scope.scope.name = "bench.flooder"
    now = time.time_ns()
    for i in range(spans):
        span = scope.spans.add(trace_id=_trace_id(), span_id=secrets.token_bytes(8),
                               parent_span_id=secrets.token_bytes(8), name="flood.v1.Work/Step", kind=2,
                               start_time_unix_nano=now + i, end_time_unix_nano=now + i + 250_000)
        for key, value in {"rpc.system": "grpc", "rpc.service": "flood.v1.Work", "rpc.method": "Step",
                           "server.address": "127.0.0.1", "rpc.grpc.status_code": 0}.items():
            span.attributes.add(key=key, value=_value(value))
    return request.SerializeToString()


def id_offsets(request: bytes) -> list[int]:
    """Where each span's trace and span id lie in the serialised request."""
    parsed = trace_service_pb2.ExportTraceServiceRequest.FromString(request)
    return [request.index(getattr(span, key)) for span in parsed.resource_spans[0].scope_spans[0].spans
            for key in ("trace_id", "span_id")]


class Flood:
    def __init__(self, target: str, spans_per_second: float, batch: int, connections: int,
                 spans: int | None = None):
        self.batch = batch
        self.spans = spans  # stop once this many were accepted
        # Each connection rewrites requests of its own, so no two threads touch one buffer.
        self.requests = [[bytearray(export_request(batch)) for _ in range(DISTINCT_REQUESTS)]
                         for _ in range(connections)]
        self.offsets = [[id_offsets(bytes(r)) for r in mine] for mine in self.requests]
        self.sends = 0
        self.channels = [grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
                         for _ in range(connections)]
        # Each connection sends its share of the rate; 0 means as fast as the collector answers.
        self.interval = connections * batch / spans_per_second if spans_per_second else 0.0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.sent = self.accepted = self.refused = 0

    def wait_ready(self, timeout: float) -> None:
        for channel in self.channels:
            grpc.channel_ready_future(channel).result(timeout=timeout)

    def _send(self, channel: grpc.Channel, offset: int) -> None:
        call = channel.unary_unary(EXPORT)  # bytes in, bytes out
        due = time.monotonic() + offset * self.interval / len(self.channels)
        n = offset
        while not self.stop.is_set():
            if self.interval:
                delay = due - time.monotonic()
                if delay > 0 and self.stop.wait(delay):
                    break
                due += self.interval
            request = self._fresh(offset, n % DISTINCT_REQUESTS)
            n += 1
            try:
                call(request, timeout=10)
                ok = True
            except grpc.RpcError:
                ok = False
            with self.lock:
                self.sent += self.batch
                if ok:
                    self.accepted += self.batch
                    if self.spans is not None and self.accepted >= self.spans:
                        self.stop.set()
                else:
                    self.refused += 1

    def _fresh(self, connection: int, which: int) -> bytes:
        """The request with ids no earlier export had: a collector may rightly count a span
        exported twice as a fault. The last 4 bytes of every id take a send counter."""
        with self.lock:
            self.sends += 1
            stamp = self.sends.to_bytes(4, "big")
        request = self.requests[connection][which]
        for offset in self.offsets[connection][which]:
            end = offset + (16 if request[offset - 1] == 16 else 8)
            request[end - 4:end] = stamp
        return bytes(request)

    def run(self, seconds: float | None) -> dict:
        threads = [threading.Thread(target=self._send, args=(c, i), daemon=True) for i, c in enumerate(self.channels)]
        started = time.monotonic()
        for t in threads:
            t.start()
        if self.spans is not None:
            self.stop.wait(seconds)
        elif seconds is None:
            sys.stdin.read()  # until the bench closes it
        else:
            self.stop.wait(seconds)
        self.stop.set()
        for t in threads:
            t.join(15)
        elapsed = time.monotonic() - started
        return {"spans_sent": self.sent, "spans_accepted": self.accepted, "exports_refused": self.refused,
                "seconds": round(elapsed, 3), "spans_per_second": round(self.accepted / elapsed)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, metavar="HOST:PORT", help="the collector's OTLP/gRPC address")
    parser.add_argument("--spans-per-second", type=float, default=0, help="0: as fast as it goes (default)")
    parser.add_argument("--batch", type=int, default=512, help="spans per export (default 512)")
    parser.add_argument("--connections", type=int, default=4, help="concurrent exporters (default 4)")
    parser.add_argument("--seconds", type=float, default=None, help="default: until stdin closes")
    parser.add_argument("--spans", type=int, default=None,
                        help="stop once this many spans were accepted (within --seconds if given)")
    parser.add_argument("--ready-timeout", type=float, default=120,
                        help="seconds to wait for the collector to listen (default 120)")
    args = parser.parse_args()
    flood = Flood(args.target, args.spans_per_second, args.batch, args.connections, args.spans)
    try:
        flood.wait_ready(args.ready_timeout)
    except grpc.FutureTimeoutError:
        print(f"flooder: nothing listens on {args.target} after {args.ready_timeout:g}s", file=sys.stderr)
        return 1
    print(json.dumps(flood.run(args.seconds)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

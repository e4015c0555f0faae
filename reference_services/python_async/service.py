"""conformance.v1.Conformance reference target on grpclib (asyncio).

    PORT=50051 python service.py [--port N]

Serves conformance.v1.Conformance and grpc.health.v1.Health on
127.0.0.1:$PORT, instrumented with grpclib_otel and exporting traces,
metrics and logs over OTLP as configured by the standard OTEL_* variables.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
from typing import AsyncIterator

from gen import ensure_generated

sys.path.insert(0, str(ensure_generated()))

import conformance_v1_grpc  # noqa: E402  (generated into _gen/)
import conformance_v1_pb2 as pb  # noqa: E402
from grpclib.client import Channel  # noqa: E402
from grpclib.const import Status  # noqa: E402
from grpclib.exceptions import GRPCError, StreamTerminatedError  # noqa: E402
from grpclib.health.service import Health  # noqa: E402
from grpclib.server import Server  # noqa: E402

import grpclib_otel  # noqa: E402
import telemetry  # noqa: E402

SERVICE_VERSION = "1.0.0"
HOST = "127.0.0.1"
SHUTDOWN_DEADLINE_S = 9.0



def _python_level_for(severity: int) -> int:
    """Python logging level whose OTel severity number is `severity`."""
    if severity == 0:
        return telemetry.UNSPECIFIED_LEVEL
    from opentelemetry.sdk._logs._internal import std_to_otel

    for levelno in range(1, 54):
        if std_to_otel(levelno).value == severity:
            return levelno
    return logging.INFO


def _parse_target(target: str) -> tuple[str, int]:
    target = target.strip()
    for prefix in ("dns:///", "ipv4:", "ipv6:", "http://"):
        if target.startswith(prefix):
            target = target[len(prefix):]
    if target.startswith("["):  # [::1]:port
        host, _, rest = target[1:].partition("]")
        port = rest.lstrip(":")
    else:
        host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise GRPCError(Status.INVALID_ARGUMENT, f"downstream must be host:port, got {target!r}")
    return host, int(port)


def _status_error(code: int, message: str | None) -> GRPCError:
    try:
        return GRPCError(Status(code), message)
    except ValueError:
        return GRPCError(Status.UNKNOWN, f"invalid status code {code}")


@contextlib.asynccontextmanager
async def _downstream(target: str) -> AsyncIterator[conformance_v1_grpc.ConformanceStub]:
    """A stub on `target` through an instrumented channel, closed on exit."""
    host, port = _parse_target(target)
    channel = grpclib_otel.instrument_channel(Channel(host, port))
    try:
        yield conformance_v1_grpc.ConformanceStub(channel)
    finally:
        channel.close()


async def _call_downstream(stream, method, request):
    """An outgoing call within what is left of the incoming call's deadline. Its failure
    ends the incoming call with the same status, so it travels back up a chain unchanged."""
    timeout = stream.deadline.time_remaining() if stream.deadline else None
    try:
        return await method(request, timeout=timeout)
    except GRPCError as err:
        raise GRPCError(err.status, err.message) from None
    except asyncio.TimeoutError:
        raise GRPCError(Status.DEADLINE_EXCEEDED, "downstream deadline exceeded") from None
    except (OSError, StreamTerminatedError) as err:
        raise GRPCError(Status.UNAVAILABLE, f"downstream unavailable: {err}") from None


class Conformance(conformance_v1_grpc.ConformanceBase):
    def __init__(self, app_logger: logging.Logger) -> None:
        self._logger = app_logger

    async def Echo(self, stream) -> None:
        request = await stream.recv_message()
        await stream.send_message(pb.EchoResponse(payload=request.payload))

    async def Fail(self, stream) -> None:
        request = await stream.recv_message()
        if request.code == 0:
            await stream.send_message(pb.FailResponse())
            return
        raise _status_error(request.code, request.message or None)

    async def Relay(self, stream) -> None:
        request = await stream.recv_message()
        payloads = []
        async with _downstream(request.downstream) as stub:
            for _ in range(request.calls or 1):
                reply = await _call_downstream(stream, stub.Echo, pb.EchoRequest(payload=request.payload))
                payloads.append(reply.payload)
        await stream.send_message(pb.RelayResponse(payloads=payloads))

    async def Log(self, stream) -> None:
        request = await stream.recv_message()
        # the server span is the active span here (grpclib_otel attaches it)
        telemetry.log_with_attributes(
            self._logger, _python_level_for(int(request.severity)),
            request.message, dict(request.attributes),
        )
        await stream.send_message(pb.LogResponse())

    async def Chain(self, stream) -> None:
        request = await stream.recv_message()
        # Log's logger and Relay's client, so a hop's record, spans and outgoing context
        # (mutants included) are exactly what those methods would produce.
        if request.log_message:
            telemetry.log_with_attributes(self._logger, logging.INFO, request.log_message, {})
        if request.fail_code:
            raise _status_error(request.fail_code, "chain failure")
        if not request.next:
            await stream.send_message(pb.ChainResponse(payload=request.payload))
            return
        hop, rest = request.next[0], request.next[1:]
        async with _downstream(hop.address) as stub:
            if rest:
                answer = await _call_downstream(stream, stub.Chain, pb.ChainRequest(
                    payload=request.payload, fail_code=hop.fail_code, log_message=hop.log_message, next=rest))
            else:  # the last entry is the suite's downstream, which need not implement Chain
                answer = await _call_downstream(stream, stub.Echo, pb.EchoRequest(payload=request.payload))
        await stream.send_message(pb.ChainResponse(payload=answer.payload))

    async def Sleep(self, stream) -> None:
        request = await stream.recv_message()
        # cancellation (client cancel, deadline via grpclib) interrupts the sleep
        await asyncio.sleep(request.duration_ms / 1000.0)
        await stream.send_message(pb.SleepResponse())

    async def StreamEcho(self, stream) -> None:
        request = await stream.recv_message()
        for _ in range(request.count):
            await stream.send_message(pb.EchoResponse(payload=request.payload))


async def serve(port: int) -> int:
    handle = telemetry.setup_telemetry(SERVICE_VERSION)
    conformance = Conformance(handle.logger)
    health = Health({conformance: []})
    server = Server([conformance, health])
    grpclib_otel.instrument_server(server)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    await server.start(HOST, port)
    print(f"conformance target (grpclib) listening on {HOST}:{port}", file=sys.stderr, flush=True)
    await stop.wait()

    # hard stop if flushing hangs (e.g. unreachable collector)
    watchdog = threading.Timer(SHUTDOWN_DEADLINE_S, os._exit, (0,))
    watchdog.daemon = True
    watchdog.start()

    server.close()
    try:
        await asyncio.wait_for(server.wait_closed(), timeout=2.0)
    except asyncio.TimeoutError:
        pass
    await asyncio.sleep(0)  # let abandoned calls end their spans
    handle.shutdown(timeout_millis=3000)
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "50051")))
    args = parser.parse_args()
    sys.exit(asyncio.run(serve(args.port)))


if __name__ == "__main__":
    main()

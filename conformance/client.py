"""The suite's own gRPC client for the target.

It is deliberately not instrumented: checks set ``traceparent`` and friends by hand, and
an instrumented client would overwrite them with its own span's context.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import grpc

from otelconform_fixtures.tls import ClientTls, channel

from .contract import SERVICE, pb, services
from .verdicts import TargetUnresponsive

# The check running on this thread (checks may run concurrently), to attribute calls to it.
RUNNING = threading.local()


@dataclass
class CallResult:
    method: str
    code: grpc.StatusCode
    details: str
    responses: list[Any]
    started_at: float
    ended_at: float
    metadata_sent: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    check: str | None = field(default_factory=lambda: getattr(RUNNING, "check", None))  # who made it
    # The target's HTTP/2 or gRPC layer refused the request (a stream reset, a non-200
    # answer) before any handler ran; only the exact-header client can provoke that.
    refused: bool = False
    # When each response message arrived (suite clock), for a server stream.
    message_times: tuple[float, ...] = ()

    def require(self, code: grpc.StatusCode = grpc.StatusCode.OK) -> "CallResult":
        """A check's precondition: the contract method ended as the suite asked. Otherwise
        TARGET_ERROR naming the method, and no telemetry judgement of a call that went wrong."""
        if self.code != code:
            raise TargetUnresponsive(
                f"contract method {self.method} should have ended {code.name} but ended "
                f"{self.code.name}{f' ({self.details})' if self.details else ''}: {_advice(self)}")
        return self


def _advice(result: CallResult) -> str:
    if result.code == grpc.StatusCode.UNIMPLEMENTED:
        return f"the service does not implement {result.method}; see docs/target-contract.md"
    if result.code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return (f"no answer within {result.ended_at - result.started_at:.1f}s (--call-timeout); "
                f"the service must answer every contract call promptly")
    if result.code == grpc.StatusCode.UNAVAILABLE:
        return "the service could not be reached; is it still running?"
    return f"{result.method} must do exactly what docs/target-contract.md says"


class ContractCalls:
    """The contract's methods as calls; needs ``call(method, request, metadata, timeout)``."""

    def echo(self, payload: str = "", metadata=(), **kw) -> CallResult:
        return self.call("Echo", pb.EchoRequest(payload=payload), metadata, **kw)

    def echo_burst(self, payloads: list[str], in_flight: int = 16) -> list[CallResult]:
        """One Echo call per payload, ``in_flight`` at a time where the client can (replay: in turn)."""
        return [self.echo(payload) for payload in payloads]

    def fail(self, code: grpc.StatusCode, message: str, metadata=(), **kw) -> CallResult:
        return self.call("Fail", pb.FailRequest(code=code.value[0], message=message), metadata, **kw)

    def relay(self, downstream: str, payload: str, calls: int = 1, metadata=(), **kw) -> CallResult:
        request = pb.RelayRequest(downstream=downstream, payload=payload, calls=calls)
        return self.call("Relay", request, metadata, **kw)

    def log(self, message: str, severity: int, attributes: dict[str, str], metadata=(), **kw):
        request = pb.LogRequest(message=message, severity=severity, attributes=attributes)
        return self.call("Log", request, metadata, **kw)

    def stream_echo(self, payload: str, count: int, metadata=(), **kw) -> CallResult:
        """``cancel_after=n`` cancels the call once n messages have arrived."""
        return self.call("StreamEcho", pb.StreamEchoRequest(payload=payload, count=count), metadata, **kw)

    def sleep(self, duration_ms: int, metadata=(), **kw) -> CallResult:
        return self.call("Sleep", pb.SleepRequest(duration_ms=duration_ms), metadata, **kw)


class TargetClient(ContractCalls):
    def __init__(self, address: str, call_timeout: float, tls: ClientTls | None = None):
        self.address = address
        self.call_timeout = call_timeout
        self.tls = tls
        self._channel = channel(address, tls)
        self._stub = services.ConformanceStub(self._channel)
        self._lock = threading.Lock()
        self.calls_made: Counter[tuple[str, str]] = Counter()
        self.history: list[CallResult] = []
        self.recorder = None  # a capture.Recorder under --capture

    @property
    def channel(self) -> grpc.Channel:
        return self._channel

    def close(self) -> None:
        self._channel.close()

    def sibling(self, address: str) -> "TargetClient":
        """A client for another instance whose calls land in this client's history and capture
        (so a check's evidence and replay see them), counted apart."""
        other = TargetClient(address, self.call_timeout, self.tls)
        other._lock, other.history, other.recorder = self._lock, self.history, self.recorder
        return other

    def _rpc(self, method: str):
        """The stub's method; a method the contract lacks is called by its path, to see how
        the target answers a method it does not have."""
        if hasattr(self._stub, method):
            return getattr(self._stub, method)
        return self._channel.unary_unary(f"/{SERVICE}/{method}", request_serializer=pb.EchoRequest.SerializeToString,
                                         response_deserializer=pb.EchoResponse.FromString)

    def echo_burst(self, payloads: list[str], in_flight: int = 16) -> list[CallResult]:
        # Asynchronous calls from one thread: hundreds of calls from a thread pool spend most
        # of their time handing the GIL and the channel's lock between threads, many times
        # slower while other checks run.
        rpc, pending, results = self._stub.Echo, [], []

        def settle(started: float, future) -> None:
            try:
                future.result()
                code, details = grpc.StatusCode.OK, ""
            except grpc.RpcError as err:
                code, details = err.code(), err.details() or ""
            results.append(self._recorded(CallResult("Echo", code, details, [], started, time.time())))

        for payload in payloads:
            pending.append((time.time(), rpc.future(pb.EchoRequest(payload=payload), timeout=self.call_timeout)))
            if len(pending) >= in_flight:
                settle(*pending.pop(0))
        for started, future in pending:
            settle(started, future)
        return results

    def _recorded(self, result: CallResult) -> CallResult:
        with self._lock:
            self.calls_made[(result.method, result.code.name)] += 1
            self.history.append(result)
        if self.recorder is not None:
            self.recorder.record_call(result)
        return result

    def call(self, method: str, request: Any, metadata: tuple[tuple[str, str], ...] = (),
             timeout: float | None = None, cancel_after: int | None = None) -> CallResult:
        rpc = self._rpc(method)
        started = time.time()
        responses: list[Any] = []
        times: list[float] = []
        try:
            if method == "StreamEcho":
                stream = rpc(request, metadata=metadata, timeout=timeout or self.call_timeout)
                for message in stream:
                    responses.append(message)
                    times.append(time.time())
                    if cancel_after is not None and len(responses) >= cancel_after:
                        stream.cancel()
                        break
                code, details = stream.code(), stream.details() or ""
            else:
                responses = [rpc(request, metadata=metadata, timeout=timeout or self.call_timeout)]
                code, details = grpc.StatusCode.OK, ""
        except grpc.RpcError as err:
            code, details = err.code(), err.details() or ""
        return self._recorded(CallResult(method, code, details, responses, started, time.time(), tuple(metadata),
                                         message_times=tuple(times)))

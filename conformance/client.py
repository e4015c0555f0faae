"""The suite's own gRPC client for the target.

It is deliberately not instrumented: checks set ``traceparent`` and friends by hand, and
an instrumented client would overwrite them with its own span's context.
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import grpc

from .contract import pb, services
from .verdicts import TargetUnresponsive


@dataclass
class CallResult:
    method: str
    code: grpc.StatusCode
    details: str
    responses: list[Any]
    started_at: float
    ended_at: float
    metadata_sent: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def require_ok(self) -> "CallResult":
        if self.code != grpc.StatusCode.OK:
            raise TargetUnresponsive(
                f"{self.method} should have succeeded but ended {self.code.name}: {self.details}")
        return self


class ContractCalls:
    """The contract's methods as calls; needs ``call(method, request, metadata, timeout)``."""

    def echo(self, payload: str = "", metadata=(), **kw) -> CallResult:
        return self.call("Echo", pb.EchoRequest(payload=payload), metadata, **kw)

    def fail(self, code: grpc.StatusCode, message: str, metadata=(), **kw) -> CallResult:
        return self.call("Fail", pb.FailRequest(code=code.value[0], message=message), metadata, **kw)

    def relay(self, downstream: str, payload: str, calls: int = 1, metadata=(), **kw) -> CallResult:
        request = pb.RelayRequest(downstream=downstream, payload=payload, calls=calls)
        return self.call("Relay", request, metadata, **kw)

    def log(self, message: str, severity: int, attributes: dict[str, str], metadata=(), **kw):
        request = pb.LogRequest(message=message, severity=severity, attributes=attributes)
        return self.call("Log", request, metadata, **kw)

    def stream_echo(self, payload: str, count: int, metadata=(), **kw) -> CallResult:
        return self.call("StreamEcho", pb.StreamEchoRequest(payload=payload, count=count), metadata, **kw)


class TargetClient(ContractCalls):
    def __init__(self, address: str, call_timeout: float):
        self.address = address
        self.call_timeout = call_timeout
        self._channel = grpc.insecure_channel(address)
        self._stub = services.ConformanceStub(self._channel)
        self._lock = threading.Lock()
        self.calls_made: Counter[tuple[str, str]] = Counter()
        self.history: list[CallResult] = []
        self.recorder = None  # a capture.Recorder under --capture

    def close(self) -> None:
        self._channel.close()

    def call(self, method: str, request: Any, metadata: tuple[tuple[str, str], ...] = (),
             timeout: float | None = None) -> CallResult:
        rpc = getattr(self._stub, method)
        started = time.time()
        responses: list[Any] = []
        try:
            if method == "StreamEcho":
                responses = list(rpc(request, metadata=metadata, timeout=timeout or self.call_timeout))
            else:
                responses = [rpc(request, metadata=metadata, timeout=timeout or self.call_timeout)]
            code, details = grpc.StatusCode.OK, ""
        except grpc.RpcError as err:
            code, details = err.code(), err.details() or ""
        result = CallResult(method, code, details, responses, started, time.time(), tuple(metadata))
        with self._lock:
            self.calls_made[(method, code.name)] += 1
            self.history.append(result)
        if self.recorder is not None:
            self.recorder.record_call(result)
        return result

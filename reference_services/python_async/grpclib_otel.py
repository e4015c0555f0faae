"""OpenTelemetry instrumentation for grpclib, built on grpclib's event hooks.

There is no upstream OpenTelemetry instrumentation for grpclib, so this module
provides one.  It depends only on ``grpclib`` and ``opentelemetry-api``; it
does not configure any SDK and can be lifted into another project as is.

Public API::

    instrument_server(server, *, tracer_provider=None, meter_provider=None,
                      propagator=None, method_filter=None) -> None
    instrument_channel(channel, *, tracer_provider=None, meter_provider=None,
                       propagator=None, server_address=None,
                       server_port=None) -> grpclib.client.Channel

Server side (``grpclib.events.listen`` on the server):

* ``RecvRequest``: extracts W3C context from the request metadata (repeated
  ``traceparent`` values are invalid -> new trace; repeated ``tracestate`` /
  ``baggage`` values are joined in order), starts the SERVER span and wraps
  ``event.method_func`` so that the span's context is *attached* (contextvars)
  for the whole handler: code in the handler, e.g. outgoing calls or log
  records, sees the server span as the active span.
* ``SendTrailingMetadata``: records ``rpc.grpc.status_code``, the span status,
  ends the span and records ``rpc.server.duration``.
* Calls that end without trailers (client cancelled / connection lost) are
  ended by a done-callback on the request task with CANCELLED (or
  DEADLINE_EXCEEDED when the request's deadline has passed).

Client side (``grpclib.events.listen`` on the channel):

* ``SendRequest``: starts the CLIENT span as a child of the active context and
  injects it into the request metadata (replacing any value set by hand).
* ``RecvTrailingMetadata``: records the status, ends the span and records
  ``rpc.client.duration``.
* ``instrument_channel`` also wraps the channel's streams so that calls that
  fail before any trailers arrive (connection refused, deadline, reset) still
  get a span, ended with the matching status (UNAVAILABLE, DEADLINE_EXCEEDED,
  CANCELLED, ...).  A connection failure happens before ``SendRequest`` is
  dispatched; the span is then created at the end of the call.

Semantic conventions: the "seed" profile (legacy RPC conventions, semconv
<= 1.38): span name ``package.Service/Method``, ``rpc.system``,
``rpc.service``, ``rpc.method``, ``rpc.grpc.status_code`` (int); client spans
add ``server.address`` / ``server.port``; histograms ``rpc.server.duration``
and ``rpc.client.duration`` in ``ms``.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from typing import Any, Callable, Iterable, List, Optional, Tuple

from grpclib.const import Status
from grpclib.events import (
    RecvRequest,
    RecvTrailingMetadata,
    SendRequest,
    SendTrailingMetadata,
    listen,
)
from grpclib.exceptions import GRPCError, ProtocolError, StreamTerminatedError

from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.propagators.textmap import Getter, Setter, TextMapPropagator
from opentelemetry.trace import SpanKind, Status as SpanStatus, StatusCode

_DEADLINE_RESET_SLACK_S = 0.05  # see _cancelled_status

__all__ = ["instrument_server", "instrument_channel", "METADATA_GETTER", "METADATA_SETTER"]

_SCOPE = "grpclib_otel"
_SCOPE_VERSION = "0.1.0"

# Server span status is ERROR only for these codes (semconv gRPC).
_SERVER_ERROR_CODES = frozenset(
    {
        Status.UNKNOWN,
        Status.DEADLINE_EXCEEDED,
        Status.UNIMPLEMENTED,
        Status.INTERNAL,
        Status.UNAVAILABLE,
        Status.DATA_LOSS,
    }
)


# --------------------------------------------------------------------------
# Metadata carrier (grpclib metadata is a multidict.MultiDict)
# --------------------------------------------------------------------------


# False only under the first-traceparent-wins mutant, which proves TC-002 can fail.
REPEATED_TRACEPARENT_INVALID = True


class _MetadataGetter(Getter[Any]):
    """Reads propagation fields from grpclib metadata.

    * keys are compared case-insensitively;
    * binary (``-bin``, bytes) values are ignored;
    * a repeated ``traceparent`` is invalid: reported as absent so that the
      receiver starts a new trace (W3C: two traceparent headers are invalid);
    * other repeated fields (``tracestate``, ``baggage``) are combined in
      order into one comma-separated value, dropping empty values, like
      repeated HTTP headers.
    """

    def get(self, carrier: Any, key: str) -> Optional[List[str]]:
        key = key.lower()
        values = [
            v
            for k, v in carrier.items()
            if isinstance(k, str) and k.lower() == key and isinstance(v, str)
        ]
        if not values:
            return None
        if len(values) == 1:
            return values
        if key == "traceparent":
            return None if REPEATED_TRACEPARENT_INVALID else values[:1]
        joined = ",".join(v.strip() for v in values if v.strip())
        return [joined]

    def keys(self, carrier: Any) -> List[str]:
        return [k for k in carrier.keys() if isinstance(k, str)]


class _MetadataSetter(Setter[Any]):
    """Writes a field into grpclib metadata, replacing existing values."""

    def set(self, carrier: Any, key: str, value: str) -> None:
        key = key.lower()
        for existing in [k for k in carrier.keys() if k.lower() == key and k != key]:
            del carrier[existing]
        carrier[key] = value  # MultiDict.__setitem__ replaces all values of key


METADATA_GETTER = _MetadataGetter()
METADATA_SETTER = _MetadataSetter()


def _split_method(method_name: str) -> Tuple[str, str, str]:
    """'/pkg.Service/Method' -> ('pkg.Service/Method', 'pkg.Service', 'Method')."""
    name = method_name.lstrip("/")
    service, _, method = name.rpartition("/")
    return name, service, method


def _status_from_exception(exc: Optional[BaseException]) -> Tuple[Status, Optional[str]]:
    if exc is None:
        return Status.OK, None
    if isinstance(exc, GRPCError):
        return exc.status, exc.message
    if isinstance(exc, asyncio.CancelledError):
        return Status.CANCELLED, "cancelled"
    if isinstance(exc, asyncio.TimeoutError):
        return Status.DEADLINE_EXCEEDED, "deadline exceeded"
    if isinstance(exc, StreamTerminatedError):
        return Status.UNAVAILABLE, str(exc) or "stream terminated"
    if isinstance(exc, OSError):  # ConnectionRefusedError, socket.gaierror, ...
        return Status.UNAVAILABLE, str(exc) or type(exc).__name__
    if isinstance(exc, ProtocolError):
        return Status.INTERNAL, str(exc)
    return Status.UNKNOWN, str(exc) or type(exc).__name__


class _Call:
    """State of one RPC (server or client side)."""

    __slots__ = (
        "span", "start_ns", "start", "attributes", "metric_attributes",
        "name", "deadline", "ended", "context", "cancelled",
    )

    def __init__(self, name: str, attributes: dict, metric_attributes: dict) -> None:
        self.span: Optional[trace.Span] = None
        self.start_ns = time.time_ns()
        self.start = time.perf_counter()
        self.name = name
        self.attributes = attributes
        self.metric_attributes = metric_attributes
        self.deadline: Any = None
        self.ended = False
        self.context: Optional[otel_context.Context] = None
        self.cancelled = False


_SERVER_CALL: contextvars.ContextVar[Optional[_Call]] = contextvars.ContextVar(
    "grpclib_otel_server_call", default=None
)
_CLIENT_CALL: contextvars.ContextVar[Optional[_Call]] = contextvars.ContextVar(
    "grpclib_otel_client_call", default=None
)


class _Instrumentation:
    def __init__(
        self,
        tracer_provider: Optional[trace.TracerProvider],
        meter_provider: Optional[metrics.MeterProvider],
        propagator: Optional[TextMapPropagator],
    ) -> None:
        self._tracer = trace.get_tracer(_SCOPE, _SCOPE_VERSION, tracer_provider=tracer_provider)
        meter = metrics.get_meter(_SCOPE, _SCOPE_VERSION, meter_provider=meter_provider)
        self._server_duration = meter.create_histogram(
            "rpc.server.duration", unit="ms",
            description="Measures the duration of inbound RPC.",
        )
        self._client_duration = meter.create_histogram(
            "rpc.client.duration", unit="ms",
            description="Measures the duration of outbound RPC.",
        )
        self._propagator = propagator

    @property
    def propagator(self) -> TextMapPropagator:
        # Resolved lazily so that OTEL_PROPAGATORS / set_global_textmap apply.
        return self._propagator or propagate.get_global_textmap()

    @staticmethod
    def _attributes(method_name: str) -> Tuple[str, dict]:
        name, service, method = _split_method(method_name)
        return name, {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method}

    # -- server -------------------------------------------------------------

    async def on_recv_request(self, event: RecvRequest) -> None:
        name, attrs = self._attributes(event.method_name)
        call = _Call(name, dict(attrs), dict(attrs))
        call.deadline = event.deadline
        parent = self.propagator.extract(
            event.metadata, context=otel_context.Context(), getter=METADATA_GETTER
        )
        span_attrs = dict(attrs)
        try:
            peer = event.peer.addr() if event.peer is not None else None
        except Exception:  # pragma: no cover - defensive
            peer = None
        if peer and len(peer) >= 2:
            span_attrs["network.peer.address"] = str(peer[0])
            span_attrs["network.peer.port"] = int(peer[1])
        call.span = self._tracer.start_span(
            name, context=parent, kind=SpanKind.SERVER,
            attributes=span_attrs, start_time=call.start_ns,
        )
        call.context = trace.set_span_in_context(call.span, parent)
        _SERVER_CALL.set(call)  # the request task's own context

        task = asyncio.current_task()
        if task is not None:
            task.add_done_callback(lambda _t, c=call: self._server_abandoned(c))

        handler = event.method_func
        ctx = call.context

        async def traced_handler(stream: Any) -> None:
            token = otel_context.attach(ctx)
            try:
                await handler(stream)
            except asyncio.CancelledError:
                # deadline (grpclib then sends DEADLINE_EXCEEDED), stream
                # reset by the client (grpclib reports UNKNOWN but sends
                # nothing) or server shutdown (no trailers at all)
                call.cancelled = True
                raise
            finally:
                otel_context.detach(token)

        event.method_func = traced_handler

    async def on_send_trailing_metadata(self, event: SendTrailingMetadata) -> None:
        call = _SERVER_CALL.get()
        if call is not None and not call.ended:
            status, message = event.status, event.status_message
            if call.cancelled and status is Status.UNKNOWN:
                # the client reset the stream: grpclib turns that into an
                # UNKNOWN it cannot deliver; the RPC's outcome is CANCELLED
                status, message = self._cancelled_status(call)
            self._end_server(call, status, message)

    def _server_abandoned(self, call: _Call) -> None:
        """The request task finished without sending trailers."""
        if not call.ended:
            self._end_server(call, *self._cancelled_status(call))

    @staticmethod
    def _cancelled_status(call: _Call) -> Tuple[Status, str]:
        deadline = call.deadline
        # A client whose own deadline passes resets the stream; its clock started when it
        # sent the request, so the reset reaches us a moment before our copy of the same
        # deadline runs out. That reset is the deadline, not a cancellation.
        if deadline is not None and deadline.time_remaining() <= _DEADLINE_RESET_SLACK_S:
            return Status.DEADLINE_EXCEEDED, "deadline exceeded"
        return Status.CANCELLED, "cancelled"

    def _end_server(self, call: _Call, status: Status, message: Optional[str]) -> None:
        call.ended = True
        span = call.span
        assert span is not None
        span.set_attribute("rpc.grpc.status_code", int(status.value))
        if status in _SERVER_ERROR_CODES:
            span.set_status(SpanStatus(StatusCode.ERROR, message or status.name))
        span.end()
        attrs = dict(call.metric_attributes)
        attrs["rpc.grpc.status_code"] = int(status.value)
        self._server_duration.record((time.perf_counter() - call.start) * 1000.0, attrs)

    # -- client -------------------------------------------------------------

    def _new_client_call(self, method_name: str, host: Optional[str], port: Optional[int]) -> _Call:
        name, attrs = self._attributes(method_name)
        if host:
            attrs["server.address"] = host
        if port is not None:
            attrs["server.port"] = int(port)
        return _Call(name, attrs, dict(attrs))

    def _start_client_span(self, call: _Call) -> None:
        parent = otel_context.get_current()
        call.span = self._tracer.start_span(
            call.name, context=parent, kind=SpanKind.CLIENT,
            attributes=call.attributes, start_time=call.start_ns,
        )
        call.context = trace.set_span_in_context(call.span, parent)

    async def on_send_request(self, event: SendRequest, channel: Any = None) -> None:
        call = _CLIENT_CALL.get()
        if call is None or call.span is not None:
            # Stream not wrapped by instrument_channel (listeners used alone).
            host = getattr(channel, "_host", None)
            port = getattr(channel, "_port", None)
            call = self._new_client_call(event.method_name, host, port)
            _CLIENT_CALL.set(call)
        self._start_client_span(call)
        self.propagator.inject(event.metadata, context=call.context, setter=METADATA_SETTER)

    async def on_recv_trailing_metadata(self, event: RecvTrailingMetadata) -> None:
        call = _CLIENT_CALL.get()
        if call is not None and call.span is not None and not call.ended:
            self._end_client(call, event.status, event.status_message)

    def _end_client(self, call: _Call, status: Status, message: Optional[str]) -> None:
        call.ended = True
        if call.span is None:  # failed before SendRequest (e.g. connect error)
            self._start_client_span(call)
        span = call.span
        assert span is not None
        span.set_attribute("rpc.grpc.status_code", int(status.value))
        if status is not Status.OK:
            span.set_status(SpanStatus(StatusCode.ERROR, message or status.name))
        span.end()
        attrs = dict(call.metric_attributes)
        attrs["rpc.grpc.status_code"] = int(status.value)
        self._client_duration.record((time.perf_counter() - call.start) * 1000.0, attrs)


_INSTRUMENTATIONS: dict = {}


def _get_instrumentation(
    tracer_provider: Optional[trace.TracerProvider],
    meter_provider: Optional[metrics.MeterProvider],
    propagator: Optional[TextMapPropagator],
) -> _Instrumentation:
    """One instrumentation (tracer + histograms) per provider set, so that
    instrumenting a new channel per call does not recreate instruments."""
    key = (tracer_provider, meter_provider, propagator)
    instr = _INSTRUMENTATIONS.get(key)
    if instr is None:
        instr = _INSTRUMENTATIONS[key] = _Instrumentation(*key)
    return instr


class _TracedStream:
    """Proxy around ``grpclib.client.Stream`` binding it to its client call.

    Every coroutine that may dispatch client events runs with the call's
    state in a context variable, so the event listeners find the right call
    even when several streams are interleaved in one task.  ``__aexit__``
    ends the span when the call failed before trailers were received.
    """

    def __init__(self, inner: Any, instr: _Instrumentation, call: _Call) -> None:
        self._inner = inner
        self._instr = instr
        self._call = call

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def _run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        token = _CLIENT_CALL.set(self._call)
        try:
            return await fn(*args, **kwargs)
        finally:
            _CLIENT_CALL.reset(token)

    async def send_request(self, *args: Any, **kwargs: Any) -> Any:
        return await self._run(self._inner.send_request, *args, **kwargs)

    async def send_message(self, *args: Any, **kwargs: Any) -> Any:
        return await self._run(self._inner.send_message, *args, **kwargs)

    async def end(self) -> Any:
        return await self._run(self._inner.end)

    async def recv_initial_metadata(self) -> Any:
        return await self._run(self._inner.recv_initial_metadata)

    async def recv_message(self) -> Any:
        return await self._run(self._inner.recv_message)

    async def recv_trailing_metadata(self) -> Any:
        return await self._run(self._inner.recv_trailing_metadata)

    async def cancel(self) -> Any:
        return await self._run(self._inner.cancel)

    def __aiter__(self) -> "_TracedStream":
        return self

    async def __anext__(self) -> Any:
        message = await self.recv_message()
        if message is None:
            raise StopAsyncIteration
        return message

    async def __aenter__(self) -> "_TracedStream":
        self._call.start_ns = time.time_ns()
        self._call.start = time.perf_counter()
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        token = _CLIENT_CALL.set(self._call)
        try:
            try:
                result = await self._inner.__aexit__(exc_type, exc, tb)
            except BaseException as raised:
                if not self._call.ended:
                    self._instr._end_client(self._call, *_status_from_exception(raised))
                raise
            if not self._call.ended:
                self._instr._end_client(self._call, *_status_from_exception(exc))
            return result
        finally:
            _CLIENT_CALL.reset(token)


def instrument_server(
    server: Any,
    *,
    tracer_provider: Optional[trace.TracerProvider] = None,
    meter_provider: Optional[metrics.MeterProvider] = None,
    propagator: Optional[TextMapPropagator] = None,
    method_filter: Optional[Callable[[str], bool]] = None,
) -> None:
    """Trace every call a ``grpclib.server.Server`` handles.

    ``method_filter(method_name) -> bool`` (``'/pkg.Service/Method'``) can
    exclude methods, e.g. health checks.  Providers and propagator default to
    the global ones.
    """
    instr = _get_instrumentation(tracer_provider, meter_provider, propagator)

    async def on_recv_request(event: RecvRequest) -> None:
        if method_filter is not None and not method_filter(event.method_name):
            return
        await instr.on_recv_request(event)

    listen(server, RecvRequest, on_recv_request)
    listen(server, SendTrailingMetadata, instr.on_send_trailing_metadata)


def instrument_channel(
    channel: Any,
    *,
    tracer_provider: Optional[trace.TracerProvider] = None,
    meter_provider: Optional[metrics.MeterProvider] = None,
    propagator: Optional[TextMapPropagator] = None,
    server_address: Optional[str] = None,
    server_port: Optional[int] = None,
) -> Any:
    """Trace every call made through a ``grpclib.client.Channel``.

    ``server_address``/``server_port`` default to the channel's host and port.
    Returns the channel.
    """
    instr = _get_instrumentation(tracer_provider, meter_provider, propagator)
    host = server_address if server_address is not None else getattr(channel, "_host", None)
    port = server_port if server_port is not None else getattr(channel, "_port", None)

    async def on_send_request(event: SendRequest) -> None:
        await instr.on_send_request(event, channel)

    listen(channel, SendRequest, on_send_request)
    listen(channel, RecvTrailingMetadata, instr.on_recv_trailing_metadata)

    original_request = channel.request

    def request(name: str, *args: Any, **kwargs: Any) -> Any:
        inner = original_request(name, *args, **kwargs)
        return _TracedStream(inner, instr, instr._new_client_call(name, host, port))

    channel.request = request
    return channel

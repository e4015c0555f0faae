"""W3C Trace Context and Baggage propagators, shared by both Python references.

The SDK's propagators are replaced because they break W3C rules the suite checks: the baggage one re-encodes values with quote_plus (a space goes out as "+", which W3C Baggage reads as a literal plus) and drops member properties; the trace-context one reads only the first of several traceparent values and throws the whole tracestate away on a duplicated key. Injection of traceparent/tracestate is the SDK's own.

Both references install them from their telemetry setup, honouring OTEL_PROPAGATORS.
"""
from __future__ import annotations

import logging
import os
import re
from importlib.metadata import entry_points
from urllib.parse import quote, unquote

from opentelemetry import baggage, context as otel_context, propagate, trace
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import TextMapPropagator, default_getter, default_setter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.span import TraceState

_OWS = " \t"
_TRACEPARENT_RE = re.compile(
    r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_TRACEPARENT_MAX_LENGTH = 512
# Trace Context Level 1 keys and values, the grammar OTel SDKs implement.
_TRACESTATE_MEMBER_RE = re.compile(
    r"([a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})"
    r"=([\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e])")
_TRACESTATE_MAX_MEMBERS = 32
_BAGGAGE_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAGGAGE_VALUE_RE = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*")
# Every baggage-octet except "%" may go out as is; "%" itself must be encoded.
_BAGGAGE_SAFE = "".join(chr(c) for c in range(0x21, 0x7f) if chr(c) not in ' "%,;\\')
_BAGGAGE_MAX_MEMBERS = 64
_BAGGAGE_MAX_BYTES = 8192
# Properties are not part of the baggage API's name -> value model, so they travel next
# to it in the context: name -> (decoded value they were received with, "p1;p2=x").
_BAGGAGE_PROPERTIES_KEY = otel_context.create_key("reference-baggage-properties")
_propagation_log = logging.getLogger("reference.propagation")


def _values(getter, carrier, key: str) -> list[str]:
    found = getter.get(carrier, key)
    if found is None:
        return []
    # A getter may hand back a bare string; iterating it would yield its characters.
    if isinstance(found, str):
        return [found]
    return [v for v in found if isinstance(v, str)]


def parse_tracestate(values: list[str]) -> TraceState | None:
    """The tracestate list the fields make together, or None when it must be discarded."""
    members: list[tuple[str, str]] = []
    for value in values:
        for member in value.split(","):
            member = member.strip(_OWS)
            if not member:
                continue
            match = _TRACESTATE_MEMBER_RE.fullmatch(member)
            if match is None:
                return None
            members.append((match.group(1), match.group(2)))
    if len(members) > _TRACESTATE_MAX_MEMBERS:
        return None
    unique: dict[str, str] = {}
    for key, value in members:
        # W3C lets a receiver keep either duplicate; losing the whole list is not allowed.
        unique.setdefault(key, value)
    return TraceState(list(unique.items()))


class W3CTraceContextPropagator(TextMapPropagator):
    """traceparent/tracestate per W3C Trace Context, reading every value of each field."""

    _SDK = TraceContextTextMapPropagator()

    def extract(self, carrier, context=None, getter=default_getter):
        if context is None:
            context = otel_context.Context()
        traceparents = _values(getter, carrier, "traceparent")
        if len(traceparents) != 1:
            # Two traceparent fields cannot be told apart: W3C says start a new trace.
            return context
        header = traceparents[0].strip(_OWS)
        if len(header) > _TRACEPARENT_MAX_LENGTH:
            return context
        match = _TRACEPARENT_RE.fullmatch(header)
        if match is None:
            return context
        version, trace_id, span_id, flags, rest = match.groups()
        if version == "ff" or (version == "00" and rest is not None):
            return context
        if trace_id == "0" * 32 or span_id == "0" * 16:
            return context
        span_context = trace.SpanContext(
            trace_id=int(trace_id, 16), span_id=int(span_id, 16), is_remote=True,
            trace_flags=trace.TraceFlags(int(flags, 16)),
            trace_state=parse_tracestate(_values(getter, carrier, "tracestate")))
        return trace.set_span_in_context(trace.NonRecordingSpan(span_context), context)

    def inject(self, carrier, context=None, setter=default_setter):
        self._SDK.inject(carrier, context=context, setter=setter)

    @property
    def fields(self):
        return {"traceparent", "tracestate"}


def _parse_baggage_member(member: str) -> tuple[str, str, str] | None:
    """(key, decoded value, properties) of one list-member, None when it is malformed."""
    pair, *properties = member.split(";")
    key, equals, value = pair.partition("=")
    key, value = key.strip(_OWS), value.strip(_OWS)
    if not equals or not _BAGGAGE_TOKEN_RE.fullmatch(key) or not _BAGGAGE_VALUE_RE.fullmatch(value):
        return None
    kept = []
    for prop in properties:
        prop_key, prop_equals, prop_value = prop.partition("=")
        prop_key, prop_value = prop_key.strip(_OWS), prop_value.strip(_OWS)
        if not prop_key and not prop_equals:
            continue  # "k=v;" or "k=v;;p": nothing to keep
        if not _BAGGAGE_TOKEN_RE.fullmatch(prop_key):
            return None
        if prop_equals:
            if not _BAGGAGE_VALUE_RE.fullmatch(prop_value):
                return None
            kept.append(f"{prop_key}={prop_value}")
        else:
            kept.append(prop_key)
    # "+" is a literal plus in baggage, so no unquote_plus.
    return key, unquote(value), ";".join(kept)


class W3CBaggagePropagator(TextMapPropagator):
    """W3C Baggage: %-encoded values (space as %20), member properties kept, fields combined."""

    def extract(self, carrier, context=None, getter=default_getter):
        if context is None:
            context = otel_context.get_current()
        fields = _values(getter, carrier, "baggage")
        if not fields:
            return context
        properties = dict(otel_context.get_value(_BAGGAGE_PROPERTIES_KEY, context) or {})
        for value in fields:
            for member in value.split(","):
                if not member.strip(_OWS):
                    continue
                parsed = _parse_baggage_member(member)
                if parsed is None:
                    _propagation_log.debug("dropping malformed baggage member %r", member)
                    continue
                key, decoded, props = parsed
                context = baggage.set_baggage(key, decoded, context=context)
                if props:
                    properties[key] = (decoded, props)
                else:
                    properties.pop(key, None)
        return otel_context.set_value(_BAGGAGE_PROPERTIES_KEY, properties, context)

    def inject(self, carrier, context=None, setter=default_setter):
        entries = baggage.get_all(context=context)
        if not entries:
            return
        properties = otel_context.get_value(_BAGGAGE_PROPERTIES_KEY, context) or {}
        members: list[str] = []
        size = 0
        for key, value in entries.items():
            if not _BAGGAGE_TOKEN_RE.fullmatch(str(key)):
                continue
            member = f"{key}={quote(str(value), safe=_BAGGAGE_SAFE)}"
            received = properties.get(key)
            # Properties belong to the value they came with; a value the service
            # replaced goes out without them.
            if received is not None and received[0] == value:
                member += ";" + received[1]
            added = len(member.encode()) + (1 if members else 0)
            if len(members) == _BAGGAGE_MAX_MEMBERS or size + added > _BAGGAGE_MAX_BYTES:
                # W3C allows dropping whole members beyond the limits, never cutting one.
                _propagation_log.debug("baggage member %r is beyond the W3C limits, not sent", key)
                continue
            members.append(member)
            size += added
        if members:
            setter.set(carrier, "baggage", ",".join(members))

    @property
    def fields(self):
        return {"baggage"}


class _NoPropagation(TextMapPropagator):
    """OTEL_PROPAGATORS=none. Not an empty CompositePropagator: its extract returns the
    context it was given, None included, and the grpc instrumentation attaches that."""

    def extract(self, carrier, context=None, getter=default_getter):
        return context if context is not None else otel_context.Context()

    def inject(self, carrier, context=None, setter=default_setter):
        pass

    @property
    def fields(self):
        return set()


def build_propagator(names: str | None = None) -> TextMapPropagator:
    """The propagator OTEL_PROPAGATORS asks for, with this reference's W3C propagators."""
    if names is None:
        names = os.environ.get("OTEL_PROPAGATORS", "")
    wanted = [n.strip() for n in names.split(",") if n.strip()] or ["tracecontext", "baggage"]
    if any(n.lower() == "none" for n in wanted):
        return _NoPropagation()
    propagators: list[TextMapPropagator] = []
    for name in dict.fromkeys(wanted):
        if name == "tracecontext":
            propagators.append(W3CTraceContextPropagator())
        elif name == "baggage":
            propagators.append(W3CBaggagePropagator())
        else:
            # Non-W3C formats (b3, jaeger, ...) come from their installed packages as usual.
            found = list(entry_points(group="opentelemetry_propagator", name=name))
            if not found:
                raise ValueError(f"OTEL_PROPAGATORS names {name!r}, which is not installed")
            propagators.append(found[0].load()())
    return CompositePropagator(propagators)


def install_propagators() -> TextMapPropagator:
    propagator = build_propagator()
    propagate.set_global_textmap(propagator)
    return propagator

"""W3C propagation bugs, one per mutant, to prove the W3C checks can fail.

Each wraps the reference's real propagator and bends what it reads (the getter) or writes
(the setter) in one realistic way: a lenient parser, a carrier that keeps one value of a
repeated header, a header name normalised too eagerly, a wrong parent on outgoing calls,
form-encoded baggage.
"""
from __future__ import annotations

import re

from opentelemetry import context as otel_context, trace
from opentelemetry.trace import NonRecordingSpan

MUTANTS = {
    "lenient-traceparent": "a malformed traceparent is repaired (any ids found in it) and continued",
    "punctuation-blind-names": "trace-parent / trace.parent / trace-state are read as traceparent / tracestate",
    "inject-only-continued": "outgoing calls carry trace context only when the request brought a valid one",
    "outgoing-parent-is-server-span": "outgoing calls name the server span, not the client span, as parent",
    "tracestate-without-parent": "the incoming tracestate is forwarded even when traceparent was invalid",
    "last-tracestate-wins": "of several tracestate headers only the last is read",
    "lenient-tracestate": "the incoming tracestate headers are forwarded verbatim, unvalidated",
    "baggage-limit-16": "only the first 16 baggage members are forwarded",
    "plus-for-space": "baggage values are form-encoded: a space goes out as '+'",
    "drop-baggage-properties": "baggage member properties (;…) are dropped when forwarding",
    "last-baggage-wins": "of several baggage headers only the last is read",
    # grpcio already collapses repeated traceparent, so only the grpclib reference can show this one.
    "first-traceparent-wins": "of several traceparent headers the first is used",
}
_INCOMING_VALID = otel_context.create_key("mutant-incoming-valid")
_RAW_TRACESTATE = otel_context.create_key("mutant-raw-tracestate")
_OTHER_NAMES = {"traceparent": ("trace-parent", "trace.parent"), "tracestate": ("trace-state", "trace.state")}


def _repair(value: str) -> str:
    text = value.strip().lower()
    trace_id, parent_id = re.search(r"[0-9a-f.]{31,}", text), re.search(r"-([0-9a-f.]{15,17})-", text)
    if not trace_id or not parent_id:
        return value
    fix = lambda s, n: s.replace(".", "0")[:n].rjust(n, "0")  # noqa: E731
    return f"00-{fix(trace_id.group(0), 32)}-{fix(parent_id.group(1), 16)}-01"


class _Getter:
    def __init__(self, inner, mutant: str):
        self._inner, self._mutant = inner, mutant

    def get(self, carrier, key):
        values = self._inner.get(carrier, key)
        if not values and self._mutant == "punctuation-blind-names" and key in _OTHER_NAMES:
            values = next((v for other in _OTHER_NAMES[key] if (v := self._inner.get(carrier, other))), None)
        if values and key == "traceparent" and self._mutant == "first-traceparent-wins":
            values = values[:1]
        if values and key == "traceparent" and self._mutant == "lenient-traceparent":
            values = [_repair(values[-1])]
        if values and (key, self._mutant) in (("tracestate", "last-tracestate-wins"), ("baggage", "last-baggage-wins")):
            values = values[-1:]
        return values

    def keys(self, carrier):
        return self._inner.keys(carrier)


class _Setter:
    def __init__(self, inner, mutant: str):
        self._inner, self._mutant = inner, mutant

    def set(self, carrier, key, value):
        if key == "baggage":
            members = [m.strip() for m in value.split(",")]
            if self._mutant == "baggage-limit-16":
                members = members[:16]
            if self._mutant == "plus-for-space":
                members = [m.replace("%20", "+") for m in members]
            if self._mutant == "drop-baggage-properties":
                members = [m.split(";")[0] for m in members]
            value = ",".join(members)
        self._inner.set(carrier, key, value)


class MutantW3CPropagator:
    def __init__(self, inner, mutant: str):
        self._inner, self._mutant = inner, mutant

    def extract(self, carrier, context=None, getter=None):
        from opentelemetry.propagators.textmap import default_getter

        getter = getter or default_getter
        extracted = self._inner.extract(carrier, context, _Getter(getter, self._mutant))
        valid = trace.get_current_span(extracted).get_span_context().is_valid
        extracted = otel_context.set_value(_INCOMING_VALID, valid, extracted)
        raw = getter.get(carrier, "tracestate")
        if raw and (self._mutant == "tracestate-without-parent" and not valid
                    or self._mutant == "lenient-tracestate" and valid):
            extracted = otel_context.set_value(_RAW_TRACESTATE, ",".join(raw), extracted)
        return extracted

    def inject(self, carrier, context=None, setter=None):
        from opentelemetry.propagators.textmap import default_setter

        setter = _Setter(setter or default_setter, self._mutant)
        current = context if context is not None else otel_context.get_current()
        if self._mutant == "inject-only-continued" and not otel_context.get_value(_INCOMING_VALID, current):
            return
        if self._mutant == "outgoing-parent-is-server-span":
            parent = getattr(trace.get_current_span(current), "parent", None)
            if parent is not None:
                current = trace.set_span_in_context(NonRecordingSpan(parent), current)
        self._inner.inject(carrier, current, setter)
        raw = otel_context.get_value(_RAW_TRACESTATE, current)
        if raw:
            setter.set(carrier, "tracestate", raw)

    @property
    def fields(self):
        return self._inner.fields

"""Mutant support: spans changed on their way to the exporter, as a faulty instrumentation
would have recorded them (see mutants.py for what each mutant means)."""
from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.trace import Status, StatusCode


def _copy(span: ReadableSpan, **changes) -> ReadableSpan:
    fields = dict(name=span.name, context=span.context, parent=span.parent, resource=span.resource,
                  attributes=span.attributes, events=span.events, links=span.links, kind=span.kind,
                  status=span.status, start_time=span.start_time, end_time=span.end_time,
                  instrumentation_scope=span.instrumentation_scope)
    return ReadableSpan(**(fields | changes))


def _client_outcome_ok(span: ReadableSpan) -> ReadableSpan:
    """Every outgoing call recorded as OK, as if its outcome were read before it ended."""
    if span.kind is not trace.SpanKind.CLIENT:
        return span
    return _copy(span, attributes={**span.attributes, "rpc.grpc.status_code": 0}, status=Status(StatusCode.UNSET))


def _span_ends_early(span: ReadableSpan) -> ReadableSpan:
    """A server span continuing a caller's trace ends a thousandth of the way into its call
    (a microsecond end time read as nanoseconds, say)."""
    if span.kind is not trace.SpanKind.SERVER or span.parent is None or not span.parent.is_remote:
        return span
    return _copy(span, end_time=span.start_time + (span.end_time - span.start_time) // 1000)


SPAN_REWRITES = {"client-outcome-ok": _client_outcome_ok, "span-ends-early": _span_ends_early}


class RewritingExporter(SpanExporter):
    def __init__(self, inner: SpanExporter, rewrite):
        self._inner, self._rewrite = inner, rewrite

    def export(self, spans):
        return self._inner.export([self._rewrite(s) for s in spans])

    def shutdown(self):
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000):
        return self._inner.force_flush(timeout_millis)

"""Waiting for, and finding, what the target exported for one call.

Every lookup waits on the collector's condition (never a fixed sleep) and, when it comes
up empty, says whether nothing arrived at all or something arrived that did not match.
"""
from __future__ import annotations

from typing import Callable

from otelconform_fixtures.collector import FakeCollector
from otelconform_fixtures.otlp import LogView, MetricView, SpanView

from .ids import is_suite_trace
from .verdicts import Mismatch, NoTelemetry


def _inventory(collector: FakeCollector, signal: str) -> str:
    exports = collector.exports(signal)
    bad = [e for e in exports if e.error]
    text = f"{len(exports)} {signal} export(s) arrived in total"
    if bad:
        text += f", {len(bad)} undecodable (first: {bad[0].error})"
    return text


def span_where(collector: FakeCollector, trace_id: str, predicate: Callable[[SpanView], bool],
               timeout: float, what: str) -> SpanView:
    found = collector.wait_for(
        lambda: next((s for s in collector.spans(trace_id) if predicate(s)), None), timeout)
    if found is not None:
        return found
    in_trace = collector.spans(trace_id)
    if in_trace:
        raise Mismatch(f"no {what} in trace {trace_id} within {timeout:.0f}s; the trace has: "
                       + "; ".join(s.summary() for s in in_trace))
    raise NoTelemetry(f"no span of trace {trace_id} arrived within {timeout:.0f}s "
                      f"(expected {what}); {_inventory(collector, 'traces')}")


def span_for_call(collector: FakeCollector, trace_id: str, parent_id: str, timeout: float) -> SpanView:
    """The span the target made for an incoming call whose traceparent named ``parent_id``."""
    return span_where(collector, trace_id, lambda s: s.parent_span_id == parent_id, timeout,
                      f"span with parent {parent_id} (the target's span for the suite's call)")


def client_span(collector: FakeCollector, trace_id: str, parent: SpanView, timeout: float) -> SpanView:
    """The target's span for its outgoing call: a child of its server span, not the server span."""
    return span_where(collector, trace_id,
                      lambda s: s.parent_span_id == parent.span_id and s.span_id != parent.span_id,
                      timeout, f"child span of {parent.span_id} for the outgoing call")


def log_where(collector: FakeCollector, predicate: Callable[[LogView], bool], timeout: float,
              what: str) -> LogView:
    found = collector.wait_for(lambda: next((r for r in collector.logs() if predicate(r)), None), timeout)
    if found is not None:
        return found
    if collector.logs():
        raise Mismatch(f"no {what} among {len(collector.logs())} log record(s) within {timeout:.0f}s")
    raise NoTelemetry(f"no log record arrived within {timeout:.0f}s (expected {what}); "
                      f"{_inventory(collector, 'logs')}")


def metric_named(collector: FakeCollector, name: str, timeout: float) -> list[MetricView]:
    found = collector.wait_for(lambda: collector.metrics(name), timeout)
    if found:
        return found
    names = sorted({m.name for m in collector.metrics()})
    if names:
        raise Mismatch(f"no metric named {name!r} within {timeout:.0f}s; the target exports: {names}")
    raise NoTelemetry(f"no metric arrived within {timeout:.0f}s (expected {name!r}); "
                      f"{_inventory(collector, 'metrics')}")


def target_rooted_spans(collector: FakeCollector, method: str, call) -> list[SpanView]:
    """Spans for ``method`` in traces the target started itself while ``call`` ran.

    Suite-made trace ids carry a marker, so these are the spans of calls the suite made
    without a usable parent. Checks run one at a time per target, so the call's own time
    window (plus a little slack for clock granularity) isolates it; this assumes the
    target's clock agrees with the suite's, as it does on one host.
    """
    slack = 0.05
    return [s for s in collector.spans()
            if not is_suite_trace(s.trace_id) and s.name.lstrip("/") == method
            and call.started_at - slack <= s.span.start_time_unix_nano / 1e9 <= call.ended_at + slack]

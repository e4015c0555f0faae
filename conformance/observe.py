"""Waiting for, and finding, what the target exported for one call.

Correlation uses only what the suite controls or measures on its own clock: the trace
and parent ids it sent, when an export arrived at the collector, span durations (relative,
so a skewed target clock does not matter), the distinctive duration of an untraced call,
span kind and the RPC method in short or full form. Never the target's absolute clock,
never an exact span name (that is SPAN-002/004's to judge).

Every wait goes through ``SignalWatch``: a signal that never arrives is diagnosed once for
the session, and later checks waiting for it fail at once, pointing at that diagnosis.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import re
import threading
from typing import Callable, TypeVar

import pytest

from otelconform_fixtures.collector import FakeCollector
from otelconform_fixtures.otlp import LogView, MetricView, SpanView

from .client import RUNNING
from .contract import full_method, split_method
from .ids import is_suite_trace
from .verdicts import Mismatch, NoTelemetry

T = TypeVar("T")
SERVER, CLIENT = "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT"
SIGNALS = ("traces", "metrics", "logs")


# The variable that sets how often each signal is exported (SDK environment variables spec).
EXPORT_PACE = {"traces": "OTEL_BSP_SCHEDULE_DELAY", "logs": "OTEL_BLRP_SCHEDULE_DELAY",
               "metrics": "OTEL_METRIC_EXPORT_INTERVAL"}
SDK_DEFAULT_PACE = {"traces": "5 s", "logs": "1 s", "metrics": "60 s"}  # those variables' defaults


class SignalWatch:
    """Waits for telemetry, and remembers a signal that never came."""

    def __init__(self, collector: FakeCollector, timeout: float, exporter_setup: str):
        self.collector = collector
        self.timeout = timeout
        self.exporter_setup = exporter_setup  # what the target was told, for the diagnosis
        self.diagnoses: dict[str, str] = {}
        self._seen: set[str] = set()
        # While one check finds out whether a signal comes at all, concurrent checks waiting
        # for the same signal wait for its answer instead of each waiting out the timeout.
        self._first_wait: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def slow_exports(self, first_call: float | None = None) -> str | None:
        """Said once in the report: a signal whose exports came further apart than half the time
        a check waits for telemetry (an SDK left at its default pace, in attach mode). With too
        few exports to see a pace (a 60 s metric interval in a short run), the first export's
        delay after the suite's first call (``first_call``, the suite's clock) stands in for it."""
        slow = []
        for signal, variable in EXPORT_PACE.items():
            times = sorted(e.received_at for e in self.collector.exports(signal) if not e.error)
            gaps = sorted(later - earlier for earlier, later in zip(times, times[1:]))
            if len(gaps) >= 2:
                if (typical := gaps[len(gaps) // 2]) > self.timeout / 2:
                    slow.append(f"{signal} every {typical:.1f}s (set {variable}=50 or less)")
            elif times and first_call is not None and (delay := times[0] - first_call) > self.timeout / 2:
                slow.append(f"the first {signal} export {delay:.1f}s after the suite's first call, "
                            f"{len(times)} in the run (set {variable}=50 or less)")
        if not slow:
            return None
        return (f"exports arrived slowly: {'; '.join(slow)}; a check waits at most {self.timeout:g}s "
                f"(--telemetry-timeout) for telemetry, so checks may wait out that time or miss what comes "
                f"later: give the service the variables named, or raise --telemetry-timeout")

    def arrived(self, signal: str) -> bool:
        if signal not in self._seen and any(not e.error for e in self.collector.exports(signal)):
            self._seen.add(signal)
        return signal in self._seen

    def wait(self, signal: str, condition: Callable[[], T], what: str, timeout: float | None = None) -> T:
        """``condition()`` once truthy; its falsy value at the timeout when ``signal`` arrives
        at all (the caller judges what arrived); NoTelemetry when ``signal`` never did."""
        timeout = self.timeout if timeout is None else timeout
        with self._lock:
            gate = self._first_wait.get(signal)
            first = gate is None and not self.arrived(signal)
            if first:
                gate = self._first_wait[signal] = threading.Event()
        if not first and gate is not None:
            gate.wait(2 * timeout + 1)  # set once the first waiter's own bounded wait is over
        if signal in self.diagnoses and not self.arrived(signal):
            raise NoTelemetry(f"expected {what}, but no {signal} has arrived from the target in this "
                              f"session (not waited for again): {self.diagnoses[signal]}")

        def watched():
            result = condition()
            if first and self.arrived(signal):
                gate.set()
            return result

        try:
            result = self.collector.wait_for(watched, timeout, signal=signal)
            if not result and not self.arrived(signal):
                self.diagnoses[signal] = self.diagnose(signal, timeout)
                raise NoTelemetry(f"expected {what}: {self.diagnoses[signal]}")
            return result
        finally:
            if first:
                gate.set()

    def diagnose(self, signal: str, waited: float) -> str:
        counts = []
        for name in SIGNALS:
            exports = self.collector.exports(name)
            bad = sum(1 for e in exports if e.error)
            counts.append(f"{name} {len(exports)}" + (f" ({bad} undecodable)" if bad else ""))
        undecodable = self.collector.undecodable(signal)
        others = [s for s in SIGNALS if s != signal and self.arrived(s)]
        if undecodable:
            fix = (f"{len(undecodable)} {signal} export(s) arrived but none could be decoded "
                   f"(first: {undecodable[0].error}): the exporter sends something other than OTLP")
        elif others:
            fix = (f"{' and '.join(others)} arrive, so the endpoint is right: enable the {signal} "
                   f"pipeline (provider and OTLP exporter) in the target, or, if it is enabled, export "
                   f"more often than every {waited:g}s: {EXPORT_PACE[signal]}=50 (the SDK's default is "
                   f"{SDK_DEFAULT_PACE[signal]})")
        else:
            fix = ("check the exporter's endpoint and protocol (an OTLP/HTTP exporter pointed at the "
                   "gRPC port, or the reverse, delivers nothing) and that the SDK is not disabled")
        return (f"no decodable {signal} export arrived within {waited:g}s; {self.exporter_setup}; "
                f"exports received so far: {', '.join(counts)}; how to fix: {fix}")


# -- spans -----------------------------------------------------------------------------------

# The checks about propagation itself (PROP, and the W3C TC, TS and BAG vectors): when the
# target does not continue the trace the suite sent, theirs is the finding.
_PROPAGATION_CHECK = re.compile(r"::test_(prop|tc|ts|bag)_\d")

def identifies_method(span: SpanView, method: str) -> bool:
    """Does the span name the RPC ``method``, in short or full form, by attribute or name?"""
    short = split_method(method)[1]
    if span.attributes.get("rpc.method") in (short, full_method(method)):
        return True
    return span.name.rsplit("/", 1)[-1] == short


def duration_s(span: SpanView) -> float:
    return (span.span.end_time_unix_nano - span.span.start_time_unix_nano) / 1e9


def _describe(spans: list[SpanView]) -> str:
    return "; ".join(s.summary() for s in spans) or "no spans"


def server_span(suite, trace_id: str, parent_id: str, outgoing: bool = False) -> SpanView:
    """The span the target made for an incoming call whose traceparent named ``parent_id``.

    Among the spans under that parent a SERVER span wins, then any span that is not a
    CLIENT span. When the call made no outgoing call (``outgoing`` false), a CLIENT span
    there can only be the server span with the wrong kind, which SPAN-001 then reports.
    """
    def pick():
        under = [s for s in suite.collector.spans(trace_id) if s.parent_span_id == parent_id]
        return (next((s for s in under if s.kind == SERVER), None)
                or next((s for s in under if s.kind != CLIENT), None)
                or (None if outgoing else next(iter(under), None)))

    found = suite.watch.wait("traces", pick, f"the target's span for the call (trace {trace_id})")
    if found:
        return found
    spans = suite.collector.spans(trace_id)
    under = [s for s in spans if s.parent_span_id == parent_id]
    if under:
        raise Mismatch(f"under the incoming parent {parent_id} the target exported only CLIENT span(s) "
                       f"({_describe(under)}): the client span hangs off the incoming parent, and no "
                       f"SERVER span was made for the call; the server span must be the child of the "
                       f"incoming parent and the client span its child")
    servers = [s for s in spans if s.kind == SERVER]
    if servers:
        raise Mismatch(f"the target's SERVER span has parent {servers[0].parent_span_id or '(none)'}, "
                       f"expected the incoming parent {parent_id} that the suite sent in traceparent "
                       f"({servers[0].summary()}): extract the incoming context before starting the span")
    if spans:
        raise Mismatch(f"no span with parent {parent_id} (the id the suite sent) in trace {trace_id} within "
                       f"{suite.watch.timeout:g}s; the trace has: {_describe(spans)}")
    lost = (f"no span of trace {trace_id} (the trace id the suite sent) arrived within "
            f"{suite.watch.timeout:g}s, though other spans did: the target did not continue the "
            f"incoming trace, or did not export its span")
    if _PROPAGATION_CHECK.search(getattr(RUNNING, "check", None) or ""):
        raise Mismatch(lost)
    # One fault, one finding: a check about something else cannot find its span, and says so.
    pytest.skip(f"{lost}; the propagation checks (PROP-001) report that, and this check judges the span "
                f"once the target continues the trace it is sent")


def client_span(suite, trace_id: str, server: SpanView, anywhere: bool = False) -> SpanView:
    """The target's CLIENT span for its outgoing call, which must be a child of ``server``
    (with ``anywhere``, the trace's one client span wherever it hangs: where it hangs is
    then another check's finding)."""
    def pick():
        clients = [s for s in suite.collector.spans(trace_id) if s.kind == CLIENT]
        if anywhere and clients:
            return next((s for s in clients if s.parent_span_id == server.span_id), clients[0])
        return next((s for s in clients if s.parent_span_id == server.span_id), None) or clients[:1]

    found = suite.watch.wait("traces", pick, f"the target's client span in trace {trace_id}")
    if isinstance(found, SpanView):
        return found
    if found:
        client = found[0]
        relation = ("the incoming parent, not off the server span"
                    if client.parent_span_id == server.parent_span_id else
                    f"span {client.parent_span_id or '(none)'}, not off the server span {server.span_id}")
        raise Mismatch(f"the client span hangs off {relation} ({client.summary()}): start the client "
                       f"span inside the server span's context")
    children = [s for s in suite.collector.spans(trace_id) if s.parent_span_id == server.span_id]
    raise Mismatch(f"no CLIENT span for the outgoing call in trace {trace_id} within "
                   f"{suite.watch.timeout:g}s; children of the server span: {_describe(children)}"
                   + ("" if children else f"; the trace has: {_describe(suite.collector.spans(trace_id))}"))


def untraced_call_spans(suite, method: str, call, requested_s: float) -> list[SpanView]:
    """Spans outside the suite's traces that can only belong to ``call``, which was made
    without a usable traceparent and asked the target to take ``requested_s`` seconds.

    The call's shape identifies them: the RPC method, not a CLIENT span, exported after
    the call started (suite clock), and a duration between what was requested and what
    the suite measured. The suite gives every untraced call a distinct requested duration.
    """
    from .checks._calls import target_service  # the checks' step, one level up

    measured = call.ended_at - call.started_at
    low, high = requested_s - 0.002, measured + 0.005 + 0.02 * measured
    # Another service's spans (a busy collector's) cannot be the call's: skipped unread.
    return [s for s in suite.collector.spans(since=call.started_at, service=target_service(suite))
            if not is_suite_trace(s.trace_id) and s.kind != CLIENT and low <= duration_s(s) <= high
            and identifies_method(s, method)]


# -- logs and metrics ------------------------------------------------------------------------

def log_where(suite, predicate: Callable[[LogView], bool], what: str) -> LogView:
    found = suite.watch.wait("logs", lambda: next((r for r in suite.collector.logs() if predicate(r)), None),
                             what)
    if found is not None:
        return found
    raise Mismatch(f"no {what} among {len(suite.collector.logs())} log record(s) within "
                   f"{suite.watch.timeout:g}s")


def metric_named(suite, name: str) -> list[MetricView]:
    found = suite.watch.wait("metrics", lambda: suite.collector.metrics(name), f"a metric named {name!r}")
    if found:
        return found
    names = sorted({m.name for m in suite.collector.metrics()})
    raise Mismatch(f"no metric named {name!r} within {suite.watch.timeout:g}s; the target exports: {names}")

"""OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG, judged on both sides of a Relay: the
sampled flag the service sends its downstream (its decision, seen at once) and the spans it
exports (exactly the sampled ones).

The ratio checks are statistical: ROOT_CALLS (400) root Echo calls at ratio 0.25, counted by
the root spans exported (see ``_sampled_roots``), and an exact
two-sided binomial test at FALSE_ALARM_RATE (1 in 10,000; the accepted counts are 68..135, a
correct service falls outside them in 1 run of 12,000). A sampler whose ratio is 0.12 or
less, or 0.4 or more, fails with probability 0.99 or more.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import math
import time

from otelconform.configurations import SAMPLER_RATIO
from otelconform.ids import is_suite_trace, new_span_id, new_trace_id, ratio_sampled_trace_id, traceparent, unique
from otelconform.instances import instance_for
from otelconform.observe import SERVER, identifies_method, server_span
from otelconform.registry import check
from otelconform.verdicts import Mismatch, measured

from ._calls import downstream_calls, outgoing_traceparent
from .test_configuration import SILENCE_S

SAMPLER_SPEC = ("OTel spec trace/sdk.md §Built-in samplers; configuration/sdk-environment-variables.md "
                "§General SDK Configuration (OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG)")
ROOT_CALLS = 400
FALSE_ALARM_RATE = 0.0001
# Root Relays tried, after the counted calls, until one is sampled (all miss: 0.75**60, 3e-8).
MARKER_TRIES = 60
# A ratio sampler ignoring the parent keeps all 20 sampled parents with probability 0.25**20;
# the unsampled parents' trace ids are ones it would sample (``ratio_sampled_trace_id``).
PARENT_CALLS = 20


def _log_binomial(n: int, k: int, p: float) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * math.log(p) + (n - k) * math.log1p(-p)


def acceptance(n: int, p: float, alpha: float) -> tuple[int, int]:
    """The counts [low, high] an exact two-sided binomial test at ``alpha`` accepts (at most
    alpha/2 of the probability lies on each side outside)."""
    pmf = [math.exp(_log_binomial(n, k, p)) for k in range(n + 1)]
    low, tail = 0, pmf[0]
    while tail <= alpha / 2:
        low += 1
        tail += pmf[low]
    high, tail = n, pmf[n]
    while tail <= alpha / 2:
        high -= 1
        tail += pmf[high]
    return low, high


def _relay(view, payload: str, metadata=()):
    view.client.relay(view.downstream.address, payload, metadata=metadata).require()
    (call,) = downstream_calls(view, payload, 1)[:1]
    return outgoing_traceparent(call)


def _sampled_roots(view, tag: str, calls: int) -> int:
    """How many of ``calls`` root Echo calls (no traceparent) the service sampled: the root
    SERVER spans of Echo it exported. An Echo costs the suite a fifth of a Relay, whose
    downstream call would show each decision; the count needs no per-call decision. Spans
    are exported in the order they end, one batch at a time (the SDK never calls Export
    concurrently), so once a root Relay made afterwards and seen sampled has its span in,
    every earlier sampled span is in too."""
    started = time.monotonic()
    for result in view.client.echo_burst([unique(tag) for _ in range(calls)]):
        result.require()
    marker = None
    for _ in range(MARKER_TRIES):
        _, trace_id, _, flags = _relay(view, unique(f"{tag} marker"))
        if int(flags, 16) & 1:
            marker = trace_id
            break
    if marker is None:
        raise Mismatch(f"none of {MARKER_TRIES} further root Relays was sampled (flag 01 sent downstream) at "
                       f"OTEL_TRACES_SAMPLER_ARG={SAMPLER_RATIO}, which a correct sampler does with probability "
                       f"{(1 - SAMPLER_RATIO) ** MARKER_TRIES:.0e}; read OTEL_TRACES_SAMPLER_ARG as the ratio")
    view.watch.wait("traces", lambda: any(sp.kind == SERVER for sp in view.collector.spans(marker)),
                    "the span of a sampled root call made after the counted ones")
    return len({sp.trace_id for sp in view.collector.spans()
                if sp.kind == SERVER and not sp.parent_span_id and not is_suite_trace(sp.trace_id)
                and identifies_method(sp, "Echo") and sp.received_at >= started})


def _judge_ratio(view, tag: str, variable: str, calls: int) -> None:
    sampled = _sampled_roots(view, tag, calls)
    low, high = acceptance(calls, SAMPLER_RATIO, FALSE_ALARM_RATE)
    if not low <= sampled <= high:
        raise Mismatch(f"with {variable}, OTEL_TRACES_SAMPLER_ARG={SAMPLER_RATIO}: expected between {low} and "
                       f"{high} of {calls} root calls sampled (exact binomial test, false-alarm rate "
                       f"{FALSE_ALARM_RATE:g}), got {sampled} exported ({sampled / calls:.1%}); read "
                       f"OTEL_TRACES_SAMPLER_ARG as the ratio of root traces to sample, and export exactly the "
                       f"sampled spans")
    measured(f"{sampled} of {calls} root calls sampled (accepted: {low}..{high})")


@check("ENV-010", "MUST", "OTEL_TRACES_SAMPLER=always_off: no spans, trace context still propagates",
       SAMPLER_SPEC + " (AlwaysOff)", "traces", killed_by=("ignore-sampler",), configuration="sampler-always-off",
       fix="Build the sampler from OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG (always_off records no span) and "
           "keep the propagator in place, so that outgoing calls still carry the incoming trace id, with "
           "trace-flags 00; an SDK that does not read the variables (C++) needs them read in the service's setup.")
def test_env_010_always_off(suite):
    view = instance_for(suite, "sampler-always-off")
    trace_id, parent_id = new_trace_id(), new_span_id()
    _, sent_trace, _, flags = _relay(view, unique("env-010"), (("traceparent", traceparent(trace_id, parent_id)),))
    if sent_trace != trace_id or flags != "00":
        raise Mismatch(f"expected the outgoing call to continue trace {trace_id} unsampled (flags 00), got trace "
                       f"{sent_trace} flags {flags}; always_off drops the span but still propagates its context")
    exported = view.collector.wait_for(lambda: view.collector.spans(trace_id), SILENCE_S)
    if exported:
        raise Mismatch(f"expected no span with OTEL_TRACES_SAMPLER=always_off, got {exported[0].summary()}")


@check("ENV-011", "MUST", "OTEL_TRACES_SAMPLER=always_on: even an unsampled parent's call is sampled",
       SAMPLER_SPEC + " (AlwaysOn: 'Returns RECORD_AND_SAMPLE always')", "traces",
       killed_by=("ignore-sampler",), configuration="sampler-always-on",
       fix="Build the sampler from OTEL_TRACES_SAMPLER: always_on samples every span, even under an unsampled "
           "parent, so that the outgoing call carries trace-flags 01; do not keep the default parent-based sampler "
           "or wrap always_on in one.")
def test_env_011_always_on(suite):
    view = instance_for(suite, "sampler-always-on")
    trace_id, parent_id = new_trace_id(), new_span_id()
    metadata = (("traceparent", traceparent(trace_id, parent_id, sampled=False)),)
    _, sent_trace, _, flags = _relay(view, unique("env-011"), metadata)
    if sent_trace != trace_id or not int(flags, 16) & 1:
        raise Mismatch(f"expected the outgoing call to continue trace {trace_id} sampled, got trace {sent_trace} "
                       f"flags {flags}; always_on samples every span, whatever the parent's flag (the default, "
                       f"parentbased_always_on, is what follows the parent)")
    server_span(view, trace_id, parent_id, outgoing=True)


@check("ENV-012", "MUST", f"OTEL_TRACES_SAMPLER=traceidratio: root calls sampled at the ratio ({ROOT_CALLS} calls, "
       f"false alarms 1 in {1 / FALSE_ALARM_RATE:.0f})", SAMPLER_SPEC + " (TraceIdRatioBased)", "traces",
       killed_by=("ignore-sampler",), configuration="sampler-ratio", floods=True,
       fix="Read OTEL_TRACES_SAMPLER=traceidratio with OTEL_TRACES_SAMPLER_ARG as the ratio of root traces to "
           "sample (the SDK's TraceIdRatioBased sampler), and export exactly the sampled spans.")
def test_env_012_ratio_roots(suite):
    _judge_ratio(instance_for(suite, "sampler-ratio"), "env-012", "OTEL_TRACES_SAMPLER=traceidratio", ROOT_CALLS)


@check("ENV-013", "MUST", f"OTEL_TRACES_SAMPLER=parentbased_traceidratio: root calls sampled at the ratio "
       f"({ROOT_CALLS} calls, false alarms 1 in {1 / FALSE_ALARM_RATE:.0f})", SAMPLER_SPEC + " (ParentBased root)",
       "traces", killed_by=("ignore-sampler-ratio",), configuration="sampler-parent-ratio", floods=True,
       fix="Read OTEL_TRACES_SAMPLER=parentbased_traceidratio as ParentBased(root=TraceIdRatioBased(ratio)) with "
           "OTEL_TRACES_SAMPLER_ARG as the ratio: root calls are sampled at that ratio, not always.")
def test_env_013_parent_ratio_roots(suite):
    _judge_ratio(instance_for(suite, "sampler-parent-ratio"), "env-013",
                 "OTEL_TRACES_SAMPLER=parentbased_traceidratio", ROOT_CALLS)


@check("ENV-014", "MUST", "OTEL_TRACES_SAMPLER=parentbased_traceidratio: a sampled parent is always honoured",
       SAMPLER_SPEC + " (ParentBased: remoteParentSampled → AlwaysOn)", "traces",
       killed_by=("parent-ignored-by-ratio",), configuration="sampler-parent-ratio",
       fix="With OTEL_TRACES_SAMPLER=parentbased_traceidratio, sample every call whose incoming parent is sampled "
           "(ParentBased: a sampled remote parent means AlwaysOn) and apply the ratio to root calls only; extract "
           "the incoming context before the sampler decides.")
def test_env_014_sampled_parent_honoured(suite):
    view = instance_for(suite, "sampler-parent-ratio")
    calls = [(new_trace_id(), new_span_id()) for _ in range(PARENT_CALLS)]
    dropped = []
    for trace_id, parent_id in calls:
        _, sent_trace, _, flags = _relay(view, unique("env-014"), (("traceparent", traceparent(trace_id, parent_id)),))
        if sent_trace != trace_id or not int(flags, 16) & 1:
            dropped.append(f"trace {trace_id} → {sent_trace} flags {flags}")
    if dropped:
        raise Mismatch(f"{len(dropped)} of {PARENT_CALLS} calls with a sampled parent were not sampled (first: "
                       f"{dropped[0]}); parent-based sampling follows a sampled parent whatever the ratio")

    def unexported():
        return [(t, p) for t, p in calls if not any(s.parent_span_id == p for s in view.collector.spans(t))]

    view.watch.wait("traces", lambda: not unexported(), "the spans of the calls with a sampled parent")
    if unexported():
        # The first one's own finding says what is wrong with it (another parent, or none).
        server_span(view, *unexported()[0], outgoing=True)


@check("ENV-015", "MUST", "OTEL_TRACES_SAMPLER=parentbased_traceidratio: an unsampled parent is honoured",
       SAMPLER_SPEC + " (ParentBased: remoteParentNotSampled → AlwaysOff)", "traces",
       configuration="sampler-parent-ratio",
       fix="With OTEL_TRACES_SAMPLER=parentbased_traceidratio, record nothing for a call whose incoming parent is "
           "unsampled (ParentBased: an unsampled remote parent means AlwaysOff) and send trace-flags 00 on its "
           "outgoing calls; apply the ratio to root calls only.")
def test_env_015_unsampled_parent_honoured(suite):
    view = instance_for(suite, "sampler-parent-ratio")
    # Trace ids the ratio would sample: only the parent's flag can make the service drop them.
    calls = [(ratio_sampled_trace_id(), new_span_id()) for _ in range(PARENT_CALLS)]
    for trace_id, parent_id in calls:
        _, sent_trace, _, flags = _relay(view, unique("env-015"),
                                         (("traceparent", traceparent(trace_id, parent_id, sampled=False)),))
        if sent_trace != trace_id or int(flags, 16) & 1:
            raise Mismatch(f"expected the outgoing call to continue trace {trace_id} unsampled, got trace "
                           f"{sent_trace} flags {flags}; parent-based sampling follows an unsampled parent")
    # A sampled call made after it marks when the unsampled one's span would have come.
    marker, marker_parent = ratio_sampled_trace_id(), new_span_id()
    _relay(view, unique("env-015 marker"), (("traceparent", traceparent(marker, marker_parent)),))
    server_span(view, marker, marker_parent, outgoing=True)
    leaked = [s for trace_id, _ in calls for s in view.collector.spans(trace_id)]
    if leaked:
        raise Mismatch(f"expected no span for a call whose parent is unsampled, got {leaked[0].summary()}")

"""What holds across everything a target exported in the run, not for one call.

These run after the concurrent checks (exclusive), so they judge nearly the whole run's
exports; the instance SHUT-001 stops has exported nothing yet (its timers are long).

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

from collections import Counter, defaultdict

from otelconform.observe import duration_s
from otelconform.registry import check
from otelconform.verdicts import Mismatch

from ._calls import target_service

IDENTITY = ("service.name", "service.version", "service.instance.id")


def _identity(resource: dict) -> tuple:
    return tuple(resource.get(key) for key in IDENTITY)


def _shown(identity: tuple) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in zip(IDENTITY, identity))


@check("RES-003", "MUST", "one service identity per instance on every span and metric export of the run",
       "semconv docs/resource/README.md §Service (service.instance.id: unique per instance, the same for "
       "its life); OTel SDK Resource §SDK-provided attributes (one resource per SDK instance, for every "
       "signal); architecture 'Span Attributes Standard'", "resource", killed_by=("metrics-resource-differs",),
       exclusive=True, zero_contract=True,
       fix="Build one Resource at startup, with service.instance.id generated once per process, and give that same "
           "Resource to the tracer, meter and logger providers; do not create it per provider, export or batch.")
def test_res_003_one_identity_per_instance(suite):
    suite.watch.wait("traces", lambda: suite.collector.resources("traces"), "the target's spans")
    signals = defaultdict(set)  # identity -> the signals it was exported with
    # The spans of one export share its resource: judge each resource once, not each span.
    for signal in ("traces", "metrics"):
        for resource in suite.collector.resources(signal):
            signals[_identity(resource)].add(signal)
    by_instance = defaultdict(set)
    for identity in signals:
        by_instance[identity[2]].add(identity)
    for instance, identities in by_instance.items():
        if len(identities) > 1:
            shown = "; ".join(f"{_shown(i)} on {'+'.join(sorted(signals[i]))}" for i in sorted(identities, key=str))
            raise Mismatch(f"service.instance.id={instance!r} is exported under {len(identities)} identities: "
                           f"{shown}; expected one service.name and service.version per instance on every "
                           f"signal: give the tracer and the meter provider the same resource")
    if suite.launched is not None:
        started = 1 + int(suite.spare is not None and suite.spare.done() and suite.spare.exception() is None)
        # Other services may export to the same collector: count those under the target's name.
        ours = sorted(str(instance) for instance, identities in by_instance.items()
                      if any(identity[0] == suite.service_name for identity in identities))
        if len(ours) > started:
            raise Mismatch(f"expected at most {started} service.instance.id value(s) under service.name="
                           f"{suite.service_name!r}, one per instance the suite started, got {len(ours)}: "
                           f"{ours[:6]}; create the instance id once per process, not per provider, export "
                           f"or batch")


@check("SPAN-005", "SHOULD", "every span is exported once, and ends no earlier than it starts",
       "OTel trace API §End (the end timestamp is not before the start); OTel trace SDK §Span processor "
       "(an ended span is exported once; OTLP §Retrying may repeat only a batch that failed)", "traces",
       exclusive=True, zero_contract=True,
       fix="Export each ended span once: register the span processor and exporter only once, do not also export "
           "spans by hand, and resend only a batch the collector refused; take end times from the same clock as "
           "start times.")
def test_span_005_spans_exported_once(suite):
    service = target_service(suite)  # another service exporting to the same collector is not judged
    spans = suite.watch.wait("traces", lambda: suite.collector.spans(service=service), "the target's spans")
    repeated = [key for key, count in Counter((s.span.trace_id, s.span.span_id) for s in spans).items()
                if count > 1]
    if repeated:
        raise Mismatch(f"expected each span once among the {len(spans)} exported, got {len(repeated)} exported more "
                       f"than once (first: trace {repeated[0][0].hex()} span {repeated[0][1].hex()}); export each "
                       f"ended span once (a retry may repeat only a batch the collector refused)")
    backwards = [s for s in spans if duration_s(s) < 0]
    if backwards:
        raise Mismatch(f"expected every span to end no earlier than it starts, got {len(backwards)} ending "
                       f"before their start (first: {backwards[0].summary()}); take the end time from the same "
                       f"clock as the start")


# How far a span's end may lie from its export's arrival, on the suite's clock, before the
# target's clock is called off: ahead by more than a second, or behind by more than a minute
# (a batch delay of seconds, a retried export; never the 90 minutes of a wrong time zone).
AHEAD_S, BEHIND_S = 1.0, 60.0


@check("SPAN-006", "SHOULD", "span timestamps agree with the suite's clock",
       "OTel trace API §Timestamp (wall time, nanoseconds since the Unix epoch); architecture 'Tracing' (spans "
       "from several services line up in one trace only on a common clock)", "traces", exclusive=True,
       zero_contract=True,
       fix="Synchronise the host's clock (NTP) and take span timestamps from the wall clock, as nanoseconds since "
           "the Unix epoch, not from a monotonic clock or local time.")
def test_span_006_timestamps_agree_with_the_suite_clock(suite):
    service = target_service(suite)
    spans = suite.watch.wait("traces", lambda: suite.collector.spans(service=service), "the target's spans")
    # Arrival (suite clock) minus end (target clock): the span's age when its export arrived.
    ages = sorted(s.received_at - s.span.end_time_unix_nano / 1e9 for s in spans)
    median = ages[len(ages) // 2]
    if not -AHEAD_S <= median <= BEHIND_S:
        direction = "ahead of" if median < 0 else "behind"
        raise Mismatch(f"the target's span timestamps are {abs(median):.1f} s {direction} the suite's clock "
                       f"(median over {len(spans)} spans of export arrival minus span end; expected between "
                       f"-{AHEAD_S:g} s and {BEHIND_S:g} s); the checks do not depend on it, but traces from "
                       f"several services only line up on a common clock: synchronise the host's clock (NTP) "
                       f"and take timestamps from the wall clock in UTC")

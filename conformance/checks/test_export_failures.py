"""How the exporter copes when the collector refuses: retry what is retryable (with backoff,
and after the delay the server asks for), never what is not. Each check's instance has a
collector that gives the first trace export one answer (configurations.py) and accepts the
rest; the attempts it saw, and when, are the evidence.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import time

import pytest

from otelconform.configurations import CONFIGURATIONS, THROTTLE_S
from otelconform.ids import is_suite_trace, new_span_id, new_trace_id, traceparent, unique
from otelconform.instances import instance_for
from otelconform.observe import CLIENT, identifies_method
from otelconform.registry import check
from otelconform.verdicts import Mismatch, measured

from ._calls import traced_echo_span

FAILURES_SPEC = "OTLP spec docs/specification.md §Failures, §Retryable Response Codes"
THROTTLING_SPEC = "OTLP spec docs/specification.md §OTLP/gRPC Throttling, §OTLP/HTTP Throttling"
# The slowest retry schedules of the SDKs (Go: first retry 5 s ± 50 %) must fit.
RETRY_WAIT_S = 15.0
HOT_LOOP_S = 0.1  # a retry sooner than this after a refusal is no backoff at all
# SDKs jitter even a delay the server asked for (Python by up to -20 %); a quarter less is
# still the asked delay, while ignoring it retries at the default backoff, half of it or less.
JITTER_ALLOWANCE = 0.75


def _faulted_attempt(view, name: str):
    """Make a traced call, then wait for the collector's faulted answer; the attempt."""
    view.client.echo(unique(name)).require()
    answer = view.instance.collector.faults.answer.name
    found = view.collector.wait_for(lambda: [a for a in view.collector.attempts("traces") if a.answer == answer],
                                    view.telemetry_timeout)
    if not found:
        pytest.skip(f"no trace export arrived within {view.telemetry_timeout:g}s to be answered {answer}, so "
                    f"the exporter's reaction cannot be judged (see the trace checks)")
    return found[0]


def _accepted_span_ids(view) -> list[str]:
    return [s.span_id for s in view.collector.spans()]


def _arrived(view, attempt, timeout: float) -> set[str]:
    """The refused attempt's spans that later arrived in an accepted export, once all did or at timeout."""
    wanted = attempt.span_ids()
    view.collector.wait_for(lambda: wanted <= set(_accepted_span_ids(view)), timeout)
    return wanted & set(_accepted_span_ids(view))


def _not_resent(view, attempt, what: str, fix: str) -> None:
    """A marker call made after ``attempt``; once its span is in, any resend of the attempt's
    spans would be too (an exporter sends one batch at a time)."""
    traced_echo_span(view)
    resent = sum(1 for a in view.collector.attempts("traces") if a is not attempt and a.span_ids() & attempt.span_ids())
    if resent:
        raise Mismatch(f"expected an export answered {what} to be sent once, but {resent} later export(s) sent its "
                       f"spans again; {fix}")


@check("EXP-001", "MUST", "an export refused as UNAVAILABLE (HTTP 503) is retried until it arrives",
       FAILURES_SPEC + " (UNAVAILABLE is retryable; HTTP 503 likewise)", "traces",
       killed_by=("no-export-retry",), configuration="collector-unavailable",
       fix="Retry exports refused as retryable (gRPC UNAVAILABLE, HTTP 429, 502, 503, 504) with exponential backoff "
           "until they are accepted or the export timeout passes; switch the exporter's retry on where it is off by "
           "default (released Rust SDKs).")
def test_exp_001_unavailable_retried(suite):
    view = instance_for(suite, "collector-unavailable")
    attempt = _faulted_attempt(view, "exp-001")
    arrived = _arrived(view, attempt, RETRY_WAIT_S)
    if arrived != attempt.span_ids():
        raise Mismatch(f"expected the {len(attempt.span_ids())} span(s) of the export refused UNAVAILABLE to arrive "
                       f"again within {RETRY_WAIT_S:g}s, {len(arrived)} did ({len(view.collector.attempts('traces'))} "
                       f"trace export attempts in all); retry retryable refusals with exponential backoff (the "
                       f"SDK's retry setting; released Rust SDKs need it switched on)")


@check("EXP-002", "SHOULD", "a retried export backs off: no retry within 100 ms of the refusal",
       FAILURES_SPEC + " ('exponential backoff with jitter')", "traces", configuration="collector-unavailable",
       fix="Back off exponentially, with jitter, between retries of a refused export (the SDKs' built-in retry "
           "waits a second or more before the first) instead of resending at once; use the exporter's own retry "
           "rather than a loop of the service's.")
def test_exp_002_retry_backs_off(suite):
    view = instance_for(suite, "collector-unavailable")
    attempt = _faulted_attempt(view, "exp-002")
    _arrived(view, attempt, RETRY_WAIT_S)
    later = [a for a in view.collector.attempts("traces") if a.received_at > attempt.received_at
             and a.span_ids() & attempt.span_ids()]
    if not later:
        pytest.skip("the refused export was never retried (EXP-001's finding), so its backoff cannot be judged")
    gap = later[0].received_at - attempt.received_at
    if gap < HOT_LOOP_S:
        raise Mismatch(f"expected the retry at least {HOT_LOOP_S * 1000:.0f} ms after the refusal, it came after "
                       f"{gap * 1000:.1f} ms; back off exponentially between retries")


@check("EXP-003", "MUST", "an export refused as INVALID_ARGUMENT (HTTP 400) is not retried",
       FAILURES_SPEC + " (INVALID_ARGUMENT is not retryable; HTTP 400 likewise)", "traces",
       killed_by=("retry-everything",), configuration="collector-invalid-argument",
       fix="Do not retry an export refused with a non-retryable code (gRPC INVALID_ARGUMENT, HTTP 400): drop the "
           "batch and log the error; retry only the codes OTLP lists as retryable (UNAVAILABLE, ABORTED, "
           "DEADLINE_EXCEEDED and the like; HTTP 429, 502, 503, 504).")
def test_exp_003_invalid_argument_not_retried(suite):
    view = instance_for(suite, "collector-invalid-argument")
    attempt = _faulted_attempt(view, "exp-003")
    _not_resent(view, attempt, "INVALID_ARGUMENT", "drop data the collector refuses as invalid; retry only the "
                "retryable codes")


@check("EXP-004", "MUST", "an export answered with a partial success is not retried",
       "OTLP spec docs/specification.md §Partial Success ('the client MUST NOT retry the request')", "traces",
       killed_by=("retry-partial-success",), configuration="collector-partial-success",
       fix="Treat a response with partial_success set as a success: log its rejected count and error_message, and "
           "do not send the request again.")
def test_exp_004_partial_success_not_retried(suite):
    view = instance_for(suite, "collector-partial-success")
    attempt = _faulted_attempt(view, "exp-004")
    _not_resent(view, attempt, "with a partial success", "a response with partial_success set is a success: "
                "log its message, do not send the request again")


@check("EXP-005", "SHOULD", f"a throttled export (RetryInfo / Retry-After: {THROTTLE_S:g} s) is retried after "
       f"the delay the collector asked for", THROTTLING_SPEC, "traces", configuration="collector-throttling",
       fix="Honour the delay the collector asks for: wait the RetryInfo retry_delay (OTLP/gRPC) or the Retry-After "
           "header (OTLP/HTTP 429 or 503) before retrying, instead of the exporter's default backoff.")
def test_exp_005_throttling_honoured(suite):
    view = instance_for(suite, "collector-throttling")
    attempt = _faulted_attempt(view, "exp-005")
    arrived = _arrived(view, attempt, RETRY_WAIT_S)
    if arrived != attempt.span_ids():
        raise Mismatch(f"expected the spans of the throttled export to arrive again within {RETRY_WAIT_S:g}s, "
                       f"{len(arrived)} of {len(attempt.span_ids())} did; a throttling answer that says when to "
                       f"retry ({CONFIGURATIONS['collector-throttling'].summary}) is retryable")
    retry = next(a for a in view.collector.attempts("traces") if a.received_at > attempt.received_at
                 and a.span_ids() & attempt.span_ids())
    gap = retry.received_at - attempt.received_at
    if gap < THROTTLE_S * JITTER_ALLOWANCE:
        raise Mismatch(f"expected the retry no sooner than {THROTTLE_S * JITTER_ALLOWANCE:g} s after the throttling "
                       f"answer (it asked for {THROTTLE_S:g} s, less a jitter allowance), it came "
                       f"after {gap:.2f} s; wait the delay RetryInfo or Retry-After gives")


TRACES_EXPORT_PATHS = ("/v1/traces", "/opentelemetry.proto.collector.trace.v1.TraceService/Export")


@check("EXP-006", "MUST", "spans made while the collector is away arrive once it is back",
       FAILURES_SPEC + " (a transport failure is retryable, as UNAVAILABLE); OTel spec trace/sdk.md §Batching "
       "processor (spans are queued up to maxQueueSize)", "traces",
       killed_by=("no-export-retry",), configuration="collector-away",
       fix="Keep spans queued in the batch span processor while the collector is unreachable and retry exports that "
           "fail on the transport (connection refused or reset) with backoff, so they arrive once it is back; do "
           "not drop the batch on a connection error.")
def test_exp_006_collector_away_at_start(suite):
    view = instance_for(suite, "collector-away")
    trace_id, parent_id = new_trace_id(), new_span_id()
    call = view.client.echo(unique("exp-006"), metadata=(("traceparent", traceparent(trace_id, parent_id)),)
                            ).require()
    transport = view.instance.env["OTEL_EXPORTER_OTLP_PROTOCOL"]
    away = view.instance.away.get("grpc" if transport == "grpc" else "http")

    # The first traces export cut whole (the spans it held are known: often the readiness
    # probe's, sent before the call), or the one carrying the call's span. An exporter sends
    # one batch at a time, so the call's span may wait behind a batch being retried; once a
    # cut batch is known, the collector can come back at once. An exporter whose channel
    # is backing off fails a try without connecting, so wait as long as for a retry.
    def judged(tried) -> bool:
        return tried.path.endswith(TRACES_EXPORT_PATHS) and bool(tried.spans(transport) or tried.carries(trace_id))

    tried = away.wait_for(judged, RETRY_WAIT_S) if away else None
    if tried is None:
        pytest.skip(f"no traces export was tried within {RETRY_WAIT_S:g}s while the collector was away, so "
                    f"whether the exporter keeps what it could not send cannot be judged (see the trace checks)")
    view.instance.bring_collector_back()
    back = time.monotonic()

    cut_spans = tried.spans(transport)

    def call_span_arrived() -> bool:
        # A service that does not continue the trace it is sent (PROP-001's finding) exports the
        # call's span in a trace of its own: the one Echo span outside the suite's traces (this
        # instance serves this check alone).
        return bool(view.collector.spans(trace_id)) or any(
            not is_suite_trace(s.trace_id) and s.kind != CLIENT and identifies_method(s, "Echo")
            for s in view.collector.spans(since=call.started_at))

    def missing() -> list[tuple[str, str]]:
        lost = [(t, s) for t, s in cut_spans if not any(sp.span_id == s for sp in view.collector.spans(t))]
        return lost + ([] if call_span_arrived() else [(trace_id, "")])

    if view.collector.wait_for(lambda: not missing(), RETRY_WAIT_S):
        measured(f"arrived {time.monotonic() - back:.1f} s after the collector came back")
        return
    lost = missing()
    cut = [pair for pair in lost if pair[1]]
    arrived = f"{len(view.collector.exports('traces'))} traces export(s) arrived since"
    if cut:
        raise Mismatch(f"expected the {len(cut_spans)} span(s) of the traces export cut unanswered "
                       f"while the collector was away (to {tried.path}) to arrive once it was back, {len(cut)} did "
                       f"not within {RETRY_WAIT_S:g}s (first: trace {cut[0][0]} span {cut[0][1]}; {arrived}); "
                       f"retry exports that fail on the transport (connection refused or reset) with backoff")
    raise Mismatch(f"expected the span of a call made while the collector was away to arrive once it was back, "
                   f"none did within {RETRY_WAIT_S:g}s ({arrived}); keep spans queued while the collector is away "
                   f"(up to the queue's size) and send them once it is back")

"""Shutdown: on SIGTERM the service flushes what it recorded and exits 0 in time.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import pytest

from otelconform.contract import pb
from otelconform_fixtures.target import TargetError

from otelconform.ids import is_suite_trace, new_span_id, new_trace_id, traceparent, unique
from otelconform.observe import CLIENT, identifies_method
from otelconform.registry import check
from otelconform.session import SHUTDOWN_GRACE
from otelconform.verdicts import Mismatch, NoTelemetry, TargetUnresponsive


@check("SHUT-001", "MUST", "on SIGTERM the service flushes every signal and exits 0 within 10 s",
       "OTel SDK trace/logs/metrics §Shutdown (Shutdown MUST include the effects of ForceFlush); "
       "docs/target-contract.md §Shutdown", "lifecycle",
       killed_by=("no-flush-on-exit",), launch_only=True, runs_last=True,
       fix="On SIGTERM, stop the gRPC server gracefully, then shut the tracer, meter and logger providers down "
           "(which flushes the batch processors and runs a last metric collection) and exit with status 0 within a "
           "few seconds; do not exit from the signal handler before that returns.")
def test_shut_001_sigterm_flushes_and_exits(suite):
    if suite.launched is None:
        pytest.skip("needs --target-cmd: only a service the suite started can be stopped by it")
    # Judge only signals that arrive at all: a signal never sent is another check's finding.
    signals = [s for s in ("traces", "logs", "metrics") if suite.watch.arrived(s)]
    try:
        # A second instance whose batch timers outlast the check: only the flush on shutdown
        # can deliver what it recorded.
        client, target = suite.shutdown_instance()
    except TargetError as exc:
        raise TargetUnresponsive(f"a second instance of the service, for the shutdown check, did not "
                                 f"start: {exc}") from None
    message = unique("before sigterm")
    trace_id, parent_id = new_trace_id(), new_span_id()
    last_call = client.log(message, pb.SEVERITY_INFO, {},
                           metadata=(("traceparent", traceparent(trace_id, parent_id)),)).require()
    ending = suite.stop_for_shutdown_check(target)
    if suite.pipeline is not None:
        # A real collector in between (--via-collector) took the flush before the service
        # exited and forwards it once its batch is due: what it accepted is what counts.
        suite.collector.wait_for(lambda: not _undelivered(suite, signals, trace_id, parent_id, message, ending, last_call.started_at),
                                 suite.telemetry_timeout)
    problems = []
    if not ending.in_time or ending.exit_code != 0:
        problems.append(f"expected exit status 0 within {SHUTDOWN_GRACE:g}s of SIGTERM, but the service "
                        f"{ending.describe(SHUTDOWN_GRACE)}{_last_words(target)}")
    problems += _undelivered(suite, signals, trace_id, parent_id, message, ending, last_call.started_at)
    if not signals and not problems:
        raise NoTelemetry("the exit was in time, but no telemetry arrived in the whole session, so the "
                          "flush on shutdown cannot be judged; see the session's diagnosis")
    if problems:
        raise Mismatch("; ".join(problems) + f" (the service {ending.describe(SHUTDOWN_GRACE)}); on SIGTERM "
                       "shut the tracer, logger and meter providers down (which flushes them) before exiting")


def _undelivered(suite, signals, trace_id: str, parent_id: str, message: str, ending,
                 called_at: float) -> list[str]:
    """What the instance stopped for SHUT-001 recorded before SIGTERM and that has not arrived."""
    problems = []
    record = next((r for r in suite.collector.logs() if r.body == message), None)
    span = _last_call_span(suite, trace_id, parent_id, record, called_at)
    if "traces" in signals and span is None:
        problems.append(f"the span of the Log call made just before SIGTERM (trace {trace_id}) never arrived")
    if "logs" in signals and record is None:
        problems.append("the log record emitted just before SIGTERM never arrived")
    # The first instance keeps exporting metrics meanwhile: only this instance's count, told
    # apart by its service.instance.id (as its span or log record carries it).
    instance_ids = {found.resource.get("service.instance.id") for found in (span, record) if found is not None}
    instance_ids.discard(None)
    if "metrics" in signals and instance_ids and not any(
            m.received_at >= ending.signalled_at and m.resource.get("service.instance.id") in instance_ids
            for m in suite.collector.metrics()):
        problems.append("no metrics export arrived after SIGTERM (the final collection)")
    return problems


def _last_call_span(suite, trace_id: str, parent_id: str, record, called_at: float):
    """The span of the Log call made before SIGTERM, or None. A service that does not continue
    the trace it is sent (PROP-001's finding, not this one's) exports it in a trace of its own:
    then it is the span the call's log record names, else the one Log span outside the suite's
    traces that arrived after the call began (nothing else calls the instance by then)."""
    under = [s for s in suite.collector.spans(trace_id) if s.parent_span_id == parent_id]
    if under:
        return under[0]
    if record is not None and record.trace_id and record.span_id:
        named = [s for s in suite.collector.spans(record.trace_id) if s.span_id == record.span_id]
        if named:
            return named[0]
    elsewhere = [s for s in suite.collector.spans(since=called_at) if not is_suite_trace(s.trace_id)
                 and s.kind != CLIENT and identifies_method(s, "Log")]
    return elsewhere[0] if len(elsewhere) == 1 else None


def _last_words(target, lines: int = 8) -> str:
    """What a service that hung or failed in shutdown last wrote to stderr: often the reason."""
    tail = target.stderr_tail(lines).strip() if hasattr(target, "stderr_tail") else ""
    return f" (its stderr ended with: {tail!r})" if tail else ""

"""Shutdown: on SIGTERM the service flushes what it recorded and exits 0 in time.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import pytest

from otelconform.contract import pb
from otelconform_fixtures.target import TargetError

from otelconform.ids import new_span_id, new_trace_id, traceparent, unique
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
    client.log(message, pb.SEVERITY_INFO, {}, metadata=(("traceparent", traceparent(trace_id, parent_id)),)
               ).require()
    ending = suite.stop_for_shutdown_check(target)
    if suite.pipeline is not None:
        # A real collector in between (--via-collector) took the flush before the service
        # exited and forwards it once its batch is due: what it accepted is what counts.
        suite.collector.wait_for(lambda: not _undelivered(suite, signals, trace_id, parent_id, message, ending),
                                 suite.telemetry_timeout)
    problems = []
    if not ending.in_time or ending.exit_code != 0:
        problems.append(f"expected exit status 0 within {SHUTDOWN_GRACE:g}s of SIGTERM, but the service "
                        f"{ending.describe(SHUTDOWN_GRACE)}{_last_words(target)}")
    problems += _undelivered(suite, signals, trace_id, parent_id, message, ending)
    if not signals and not problems:
        raise NoTelemetry("the exit was in time, but no telemetry arrived in the whole session, so the "
                          "flush on shutdown cannot be judged; see the session's diagnosis")
    if problems:
        raise Mismatch("; ".join(problems) + f" (the service {ending.describe(SHUTDOWN_GRACE)}); on SIGTERM "
                       "shut the tracer, logger and meter providers down (which flushes them) before exiting")


def _undelivered(suite, signals, trace_id: str, parent_id: str, message: str, ending) -> list[str]:
    """What the instance stopped for SHUT-001 recorded before SIGTERM and that has not arrived."""
    problems = []
    if "traces" in signals and not any(s.parent_span_id == parent_id for s in suite.collector.spans(trace_id)):
        problems.append(f"the span of the Log call made just before SIGTERM (trace {trace_id}) never arrived")
    if "logs" in signals and not any(r.body == message for r in suite.collector.logs()):
        problems.append("the log record emitted just before SIGTERM never arrived")
    # The first instance keeps exporting metrics meanwhile: only this instance's count, told
    # apart by its service.instance.id (as its span or log record carries it).
    instance_ids = ({s.resource.get("service.instance.id") for s in suite.collector.spans(trace_id)}
                    | {r.resource.get("service.instance.id") for r in suite.collector.logs() if r.body == message})
    instance_ids.discard(None)
    if "metrics" in signals and instance_ids and not any(
            m.received_at >= ending.signalled_at and m.resource.get("service.instance.id") in instance_ids
            for m in suite.collector.metrics()):
        problems.append("no metrics export arrived after SIGTERM (the final collection)")
    return problems


def _last_words(target, lines: int = 8) -> str:
    """What a service that hung or failed in shutdown last wrote to stderr: often the reason."""
    tail = target.stderr_tail(lines).strip() if hasattr(target, "stderr_tail") else ""
    return f" (its stderr ended with: {tail!r})" if tail else ""

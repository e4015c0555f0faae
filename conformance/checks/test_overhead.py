"""The seed's overhead goal: instrumentation adds less than 5 % latency.

Two instances of the service, identical but for ``OTEL_SDK_DISABLED=true`` on one, answer
PAIRS interleaved pairs of Sleep calls of CALL_MS ms (the stand-in for a handler that does
real work; on an empty handler every fixed cost looks large). The estimate and its bounds are
rank statistics of the pairs' latency ratios (conformance/overhead.py). The check fails only
when the lower bound is above the limit: a correct service false-alarms at most 1 in 100
even at exactly 5 %, and one that adds 10 % is caught every time (tests/test_statistics.py).

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from otelconform.ids import new_span_id, new_trace_id, traceparent
from otelconform.instances import instance_for
from otelconform.overhead import estimate
from otelconform.registry import check
from otelconform.verdicts import Mismatch, measured

SEED_SPEC = "architecture §Goals ('Minimal performance overhead (<5% latency impact)')"
LIMIT = 0.05
CONFIDENCE = 0.99
CALL_MS = 20
PAIRS = 120
WORKERS = 8  # pairs in flight at once: the calls mostly wait, so this cuts the time, not the precision
WARMUP = 3  # per worker and instance: connections, thread pools and caches warmed before timing


def _timed(view, trace_id: str) -> float:
    metadata = (("traceparent", traceparent(trace_id, new_span_id())),)
    started = time.perf_counter()
    view.client.sleep(CALL_MS, metadata=metadata).require()
    return time.perf_counter() - started


def _pairs(instrumented, baseline, worker: int) -> list[tuple[float, float, str]]:
    for _ in range(WARMUP):
        _timed(instrumented, new_trace_id())
        _timed(baseline, new_trace_id())
    pairs = []
    for index in range(PAIRS // WORKERS):
        trace_id = new_trace_id()
        if (worker + index) % 2:
            first, second = _timed(instrumented, trace_id), _timed(baseline, new_trace_id())
        else:
            second = _timed(baseline, new_trace_id())
            first = _timed(instrumented, trace_id)
        pairs.append((first, second, trace_id))
    return pairs


@check("PERF-001", "SHOULD", f"instrumentation adds less than {LIMIT:.0%} latency (interleaved calls, "
       f"false alarms at most 1 in {1 / (1 - CONFIDENCE):.0f})", SEED_SPEC, "lifecycle",
       killed_by=("slow-when-instrumented",), configuration="overhead-instrumented", quiet=True,
       fix="Keep telemetry work off the request path: export through batch processors rather than simple "
           "(synchronous) ones, create providers, exporters and instruments once at startup rather than per call, "
           "and log to a non-blocking sink.")
def test_perf_001_instrumentation_overhead(suite):
    instrumented = instance_for(suite, "overhead-instrumented")
    baseline = instance_for(suite, "overhead-sdk-disabled")
    with ThreadPoolExecutor(WORKERS) as pool:
        timed = [pair for worker in pool.map(lambda w: _pairs(instrumented, baseline, w), range(WORKERS))
                    for pair in worker]
    traced = [trace_id for _, _, trace_id in timed]
    # No false PASS: the comparison means something only if one side really was instrumented
    # and the other really was not.
    if not instrumented.watch.wait("traces", lambda: any(instrumented.collector.spans(t) for t in traced),
                                   "a span of the timed calls"):
        pytest.skip("the instrumented instance exported no span of the timed calls, so its latency is not "
                    "that of an instrumented service (see the trace checks)")
    if baseline.collector.exports():
        pytest.skip("the instance started with OTEL_SDK_DISABLED=true still exported telemetry (ENV-040's "
                    "finding), so it is no uninstrumented baseline")
    overhead = estimate([a for a, _, _ in timed], [b for _, b, _ in timed], CONFIDENCE)
    if overhead.lower > LIMIT:
        added_us = overhead.instrumented_us - overhead.baseline_us
        raise Mismatch(f"expected instrumentation to add less than {LIMIT:.0%} to the latency of a {CALL_MS} ms "
                       f"call, measured {overhead.describe()}: about {added_us:.0f} µs per call; find what the "
                       f"telemetry does on the request path (synchronous exports, per-call exporter or "
                       f"provider construction, logging to a blocking sink) and move it off")
    measured(f"instrumentation adds {overhead.describe()}")

"""Reading the RPC duration histograms: which points are a method's and a code's, and how
many calls (and how much time) they have counted so far.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

from collections import defaultdict

import grpc
import pytest

from otelconform.observe import metric_named
from otelconform.profiles import STATUS_ATTRIBUTES, point_matches
from otelconform.verdicts import Mismatch


CUMULATIVE = 2  # AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
RPC_METRICS = "semconv docs/rpc/rpc-metrics.md (semconv-1.38: rpc.server.duration in ms; semconv-1.44: rpc.server.call.duration in s)"


def exported(suite, name: str):
    """The metric's exports, waited for once in the session: MET-001 reports a missing one,
    the checks that judge its values skip (one fault, one finding, one wait)."""
    return suite.once(f"metric {name}", lambda: metric_named(suite, name))


def require_exported(suite, name: str):
    try:
        return exported(suite, name)
    except Mismatch as missing:
        pytest.skip(f"{missing} (MET-001's finding)")


def points_for(metrics, method: str, code: grpc.StatusCode, strict: bool = False):
    """(metric, attributes, point) of histogram points for ``method`` calls ending ``code``, in
    arrival order. ``strict``: the point must name its status code (not merely not contradict it)."""
    found = []
    for m in metrics:
        if m.data_type != "histogram":
            continue
        for p, attrs in m.point_attributes:
            if point_matches(attrs, method, code) and (not strict or any(a in attrs for a in STATUS_ATTRIBUTES)):
                found.append((m, attrs, p))
    return found


def counted(metrics, method: str, code: grpc.StatusCode, strict: bool = False) -> tuple[int, float]:
    """(calls, summed values) the histogram has counted for ``method`` ending ``code``: each
    instance's latest cumulative export, or the sum of its deltas. (The instance SHUT-001
    stops exports nothing before it runs last: its timers are long.)"""
    by_series = defaultdict(list)
    for m, attrs, p in points_for(metrics, method, code, strict):
        series = (m.resource.get("service.instance.id"), tuple(sorted((k, str(v)) for k, v in attrs.items())))
        by_series[series].append((m, p))
    calls, total = 0, 0.0
    for entries in by_series.values():
        if entries[-1][0].metric.histogram.aggregation_temporality == CUMULATIVE:
            entries = [max(entries, key=lambda e: (e[0].received_at, e[1].time_unix_nano))]
        calls += sum(p.count for _, p in entries)
        total += sum(p.sum for _, p in entries)
    return calls, total

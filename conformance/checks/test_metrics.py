"""The RPC duration histogram(s) of the profile.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import grpc

from otelconform.ids import unique
from otelconform.observe import metric_named
from otelconform.profiles import point_matches
from otelconform.registry import check
from otelconform.verdicts import Mismatch, expect_equal

from otelconform_fixtures.otlp import attributes as decode_attributes

RPC_METRICS = "semconv docs/rpc/rpc-metrics.md (seed: rpc.server.duration in ms; stable: rpc.server.call.duration in s)"
CUMULATIVE = 2  # AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE


def _echo_points(metrics):
    """(metric, attributes, count) of the data points for successful Echo calls, in arrival order."""
    points = []
    for m in metrics:
        if m.data_type != "histogram":
            continue
        for p in m.metric.histogram.data_points:
            attrs = decode_attributes(p.attributes)
            if point_matches(attrs, "Echo", grpc.StatusCode.OK):
                points.append((m, attrs, p.count))
    return points


def _observed_total(metrics) -> int:
    """Echo calls the target has counted so far: the latest cumulative export, or the sum of deltas."""
    points = _echo_points(metrics)
    if not points:
        return 0
    if points[-1][0].metric.histogram.aggregation_temporality == CUMULATIVE:
        latest = max(m.received_at for m, _, _ in points)
        return sum(c for m, _, c in points if m.received_at == latest)
    return sum(c for _, _, c in points)


def _make_calls(suite, n: int):
    for _ in range(n):
        suite.client.echo(unique("met")).require()


@check("MET-001", "MUST", "RPC duration histogram has the profile's name, unit, type and attributes",
       RPC_METRICS + "; schemas/<profile>/duration-point.schema.json", "metrics",
       killed_by=("metric-renamed", "stock"))
def test_met_001_duration_histogram_shape(suite):
    _make_calls(suite, 1)
    for spec in suite.profile.server_durations:
        metrics = metric_named(suite, spec["name"])
        expect_equal(f"type of {spec['name']}", spec["type"], metrics[-1].data_type)
        expect_equal(f"unit of {spec['name']}", spec["unit"], metrics[-1].unit)
        found = suite.watch.wait("metrics", lambda: _echo_points(suite.collector.metrics(spec["name"])),
                                 f"{spec['name']} data points for Echo calls")
        if not found:
            seen = [decode_attributes(p.attributes) for m in metrics for p in m.metric.histogram.data_points]
            raise Mismatch(f"no {spec['name']} data point identifies Echo calls; points seen: {seen[:5]}")
        errors = suite.profile.point_errors(spec, found[-1][1], "Echo", grpc.StatusCode.OK)
        if errors:
            raise Mismatch(f"{spec['name']} data point attributes break the '{suite.profile.name}' "
                           "profile: " + "; ".join(errors))


@check("MET-002", "MUST", "RPC duration histogram counts every call",
       RPC_METRICS + " (one measurement per RPC)", "metrics", killed_by=("metric-renamed", "stock"),
       exclusive=True)
def test_met_002_duration_histogram_counts_calls(suite):
    names = [spec["name"] for spec in suite.profile.server_durations]
    before = {name: _observed_total(suite.collector.metrics(name)) for name in names}
    calls = 5
    _make_calls(suite, calls)
    made = suite.client.calls_made[("Echo", "OK")]
    for name in names:
        # With the suite as the only caller (launch mode) the count must match exactly.
        target = made if suite.launched is not None else before[name] + calls
        total = suite.watch.wait(
            "metrics", lambda: (t := _observed_total(suite.collector.metrics(name))) >= target and t,
            f"{name} counting {target} Echo calls")
        if not total:
            raise Mismatch(f"{name} count for Echo: expected at least {target} after {calls} more "
                           f"calls (the suite made {made} in all), got "
                           f"{_observed_total(suite.collector.metrics(name))}")
        if suite.launched is not None:
            expect_equal(f"{name} count for Echo vs the suite's successful Echo calls", made, total)

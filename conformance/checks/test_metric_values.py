"""What the RPC duration histograms count and measure: calls per method and status code
(the seed's RED rate and error rate), plausible values for the declared unit, cumulative
counts that never go back, the SDK's default temporality, and the client side.

All exclusive: they count calls, so they run after the concurrent checks.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

from collections import defaultdict

import grpc
import pytest

from otelconform.ids import unique
from otelconform.registry import check
from otelconform.verdicts import Mismatch, expect_equal
from otelconform_fixtures.downstream import FAIL_PREFIX
from otelconform_fixtures.otlp import attributes as decode_attributes

from ._calls import relay
from ._metrics import CUMULATIVE, RPC_METRICS, counted, exported, require_exported

# Calls MET-003 adds, per (method, code): failures by code are the seed's error rate.
PLAN = ((("Fail", grpc.StatusCode.NOT_FOUND), 3), (("Fail", grpc.StatusCode.INTERNAL), 2),
        (("Echo", grpc.StatusCode.OK), 2))
SLEEP_MS = 50  # long enough that ms and s differ past any jitter: 50 against 0.05
PER_SECOND = {"ms": 1000.0, "s": 1.0}


def _call(suite, method: str, code: grpc.StatusCode) -> None:
    if method == "Echo":
        suite.client.echo(unique("met-003")).require()
    else:
        suite.client.fail(code, unique("met-003")).require(code)


@check("MET-003", "MUST", "the server duration histogram counts calls per method and per status code, "
       "failures included", RPC_METRICS + " (rpc.grpc.status_code / rpc.response.status_code on every point); "
       "architecture §Metrics (RED: rate, errors by code, duration by method)", "metrics",
       killed_by=("metric-code-ok",), exclusive=True,
       fix="Put the method and the status code the call ended with on every duration point, failures included "
           "(rpc.grpc.status_code as an integer in semconv-1.38, rpc.response.status_code as the code's name in "
           "semconv-1.44); take the code from the call's final status, not a fixed OK.")
def test_met_003_counts_per_method_and_code(suite):
    for spec in suite.profile.server_durations:
        name = spec["name"]
        require_exported(suite, name)

        def total(method, code):
            return counted(suite.collector.metrics(name), method, code, strict=True)[0]

        before = {key: total(*key) for key, _ in PLAN}
        for (method, code), n in PLAN:
            for _ in range(n):
                _call(suite, method, code)
        for (method, code), n in PLAN:
            made = suite.client.calls_made[(method, code.name)]
            target = made if suite.launched is not None else before[(method, code)] + n
            reached = suite.watch.wait("metrics", lambda: (t := total(method, code)) >= target and t,
                                       f"{name} counting {target} {method} calls ending {code.name}")
            if not reached or (suite.launched is not None and reached != target):
                raise Mismatch(f"{name} count for {method} calls ending {code.name}: expected {target} (the "
                               f"calls the suite made), got {total(method, code)}; record one value per call "
                               f"with the method and the status code the call ended with")


@check("MET-004", "MUST", "the server duration histogram's values fit its unit: a 50 ms call records "
       "about 50 in ms or 0.05 in s", RPC_METRICS + "; OTel metrics API §Instrument unit (UCUM)", "metrics",
       killed_by=("duration-seconds-under-ms",), exclusive=True,
       fix="Record durations in the histogram's declared unit: milliseconds for rpc.server.duration (unit ms), "
           "seconds for rpc.server.call.duration (unit s); convert the measured time once, with the factor that "
           "matches the unit.")
def test_met_004_values_fit_the_unit(suite):
    for spec in suite.profile.server_durations:
        require_exported(suite, spec["name"])
    ok = grpc.StatusCode.OK
    before = {s["name"]: counted(suite.collector.metrics(s["name"]), "Sleep", ok)
              for s in suite.profile.server_durations}
    result = suite.client.sleep(SLEEP_MS).require()
    measured = result.ended_at - result.started_at
    for spec in suite.profile.server_durations:
        name, (calls0, sum0) = spec["name"], before[spec["name"]]
        after = suite.watch.wait(
            "metrics", lambda: (c := counted(suite.collector.metrics(name), "Sleep", ok))[0] > calls0 and c,
            f"{name} counting one more Sleep call")
        if not after:
            raise Mismatch(f"{name} did not count the Sleep({SLEEP_MS} ms) call (still {calls0} calls)")
        calls, recorded = after[0] - calls0, after[1] - sum0
        if calls != 1:
            pytest.skip(f"{name} counted {calls} Sleep calls where the suite made one: "
                        + ("it counts calls more than once (MET-002's finding)" if suite.launched is not None
                           else "another client's calls overlap, so this call's value cannot be told apart"))
        factor = PER_SECOND.get(require_exported(suite, name)[-1].unit)
        if factor is None:
            pytest.skip(f"{name}'s unit is not ms or s (MET-001's finding)")
        low, high = SLEEP_MS / 1000 * factor * 0.99, (measured + 0.005) * factor * 1.05
        if not low <= recorded <= high:
            hint = next((f"; the value looks like {other}: record {spec['unit']} for unit {spec['unit']!r}"
                         for other, f in PER_SECOND.items() if f != factor
                         and SLEEP_MS / 1000 * f * 0.99 <= recorded <= (measured + 0.005) * f * 1.05), "")
            raise Mismatch(f"{name} recorded {recorded:g} for a Sleep({SLEEP_MS} ms) call the suite measured at "
                           f"{measured * 1000:.1f} ms: expected between {low:g} and {high:g} "
                           f"({spec['unit']}){hint}")


def _cumulative_series(suite):
    """Cumulative histogram and sum points per (metric, instance, attributes), in the
    target's own time order (one clock, so its order holds even if the clock is off)."""
    series = defaultdict(list)
    for m in suite.collector.metrics():
        data = getattr(m.metric, m.data_type, None) if m.data_type in ("histogram", "sum") else None
        if data is None or data.aggregation_temporality != CUMULATIVE:
            continue
        for p in data.data_points:
            key = (m.name, m.resource.get("service.instance.id"),
                   tuple(sorted((k, str(v)) for k, v in decode_attributes(p.attributes).items())))
            value = p.count if m.data_type == "histogram" else (p.as_double or p.as_int)
            series[key].append((p.time_unix_nano, p.start_time_unix_nano, value, m.data_type == "sum"
                                and not m.metric.sum.is_monotonic))
    return series


@check("MET-005", "MUST", "cumulative metrics keep their start time and never count down within one instance",
       "OTel metrics data model §Temporality (cumulative: the same start time, values accumulate), "
       "§Sums (monotonic), §Histogram (count)", "metrics", killed_by=("delta-labelled-cumulative",),
       exclusive=True, zero_contract=True,
       fix="Export a cumulative series as a running total with the start time of its first measurement, kept for "
           "the life of the process; data aggregated as deltas must be exported with delta temporality, never "
           "relabelled cumulative.")
def test_met_005_cumulative_never_decreases(suite):
    suite.watch.wait("metrics", lambda: suite.collector.metrics(), "the target's metrics")
    for (name, instance, attrs), points in _cumulative_series(suite).items():
        points.sort()
        starts = sorted({start for _, start, _, _ in points})
        if len(starts) > 1:
            raise Mismatch(f"cumulative {name} {dict(attrs)} of instance {instance!r}: expected one start time, "
                           f"got {len(starts)} ({starts[:3]}...); a cumulative series keeps the start time of "
                           f"its first measurement (changing it every export is delta data labelled cumulative)")
        up_down = points[0][3]
        for (t0, _, v0, _), (t1, _, v1, _) in zip(points, points[1:]):
            if v1 < v0 and not up_down:
                raise Mismatch(f"cumulative {name} {dict(attrs)} of instance {instance!r} went from {v0} to {v1} "
                               f"between exports at {t0} and {t1}: expected it never to decrease; export the "
                               f"running total, not the change since the last export")


@check("MET-006", "SHOULD", "with no temporality configured, the RPC duration histograms are cumulative",
       "OTel SDK OTLP exporter §OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE (default: cumulative)",
       "metrics", launch_only=True, exclusive=True, zero_contract=True,
       fix="Leave the OTLP metric exporter's temporality at its default, cumulative, unless "
           "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE asks otherwise: remove a delta temporality selector "
           "set in code, or make it follow the variable.")
def test_met_006_default_temporality(suite):
    if suite.launched is None:
        pytest.skip("needs --target-cmd: only then does the suite know no temporality preference was set")
    for spec in suite.profile.server_durations:
        metric = require_exported(suite, spec["name"])[-1]
        expect_equal(f"aggregation temporality of {spec['name']} (the launched service was given no "
                     f"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE)", "AGGREGATION_TEMPORALITY_CUMULATIVE",
                     "AGGREGATION_TEMPORALITY_CUMULATIVE" if metric.metric.histogram.aggregation_temporality
                     == CUMULATIVE else "AGGREGATION_TEMPORALITY_DELTA")


@check("MET-007", "MUST", "the client duration histogram has the profile's name, unit and type and counts "
       "every outgoing call", "semconv docs/rpc/rpc-metrics.md (semconv-1.38: rpc.client.duration in ms; semconv-1.44: "
       "rpc.client.call.duration in s)", "metrics", killed_by=("no-client-metric",), exclusive=True,
       fix="Record the client duration histogram for every outgoing call (semconv-1.38: rpc.client.duration in ms; "
           "semconv-1.44: rpc.client.call.duration in s): register the gRPC client instrumentation's metrics (e.g. "
           "otelgrpc.NewClientHandler() in Go) on the channels the service calls its dependencies with.")
def test_met_007_client_histogram_counts_outgoing_calls(suite):
    ok, relays = grpc.StatusCode.OK, 3
    specs = suite.profile.definition["client_durations"]
    before = {s["name"]: counted(suite.collector.metrics(s["name"]), "Echo", ok)[0] for s in specs}
    for _ in range(relays):
        relay(suite, "met-007")
    # Every successful call that reached the suite's downstream came from an outgoing call.
    arrived = sum(1 for c in suite.downstream.all_calls() if not c.payload.startswith(FAIL_PREFIX))
    for spec in specs:
        name = spec["name"]
        metrics = exported(suite, name)
        expect_equal(f"type of {name}", spec["type"], metrics[-1].data_type)
        expect_equal(f"unit of {name}", spec["unit"], metrics[-1].unit)
        target = arrived if suite.launched is not None else before[name] + relays
        reached = suite.watch.wait(
            "metrics", lambda: (t := counted(suite.collector.metrics(name), "Echo", ok)[0]) >= target and t,
            f"{name} counting {target} outgoing Echo calls")
        got = counted(suite.collector.metrics(name), "Echo", ok)[0]
        if not reached or (suite.launched is not None and got != target):
            raise Mismatch(f"{name} count for outgoing Echo calls: expected {target} (the calls that reached "
                           f"the suite's downstream), got {got}; record one value per outgoing call")

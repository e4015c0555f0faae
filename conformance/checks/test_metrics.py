"""The RPC duration histogram(s) of the profile, and the process metrics.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import time

import grpc

from otelconform.ids import unique
from otelconform.registry import check
from otelconform.verdicts import Mismatch, expect_equal

from otelconform_fixtures.otlp import MetricView, attributes as decode_attributes

from ._calls import ok_method, traced_ok_call
from ._metrics import RPC_METRICS, counted, exported, points_for, require_exported


def _make_calls(suite, n: int):
    """``n`` successful calls: Echo, or in zero-contract mode the first --call that ends OK."""
    for _ in range(n):
        if suite.named is None:
            suite.client.echo(unique("met")).require()
        else:  # traced: an untraced call of this method is PROP-002's to find by its shape
            traced_ok_call(suite, "met")


@check("MET-001", "MUST", "RPC duration histogram has the profile's name, unit, type and attributes",
       RPC_METRICS + "; schemas/<profile>/duration-point.schema.json", "metrics",
       killed_by=("metric-renamed", "stock"), zero_contract=True,
       fix="Export the server duration histogram under the profile's name and unit, with its attributes on every "
           "point: semconv-1.38: rpc.server.duration in ms with rpc.system=grpc, rpc.service, rpc.method and "
           "rpc.grpc.status_code; semconv-1.44: rpc.server.call.duration in s with rpc.system.name=grpc, "
           "rpc.method=package.Service/Method and rpc.response.status_code; semconv-1.38+1.44: both "
           "(OTEL_SEMCONV_STABILITY_OPT_IN=rpc/dup, where the gRPC instrumentation supports it).")
def test_met_001_duration_histogram_shape(suite):
    method = ok_method(suite)
    _make_calls(suite, 1)
    for spec in suite.profile.server_durations:
        metrics = exported(suite, spec["name"])
        expect_equal(f"type of {spec['name']}", spec["type"], metrics[-1].data_type)
        expect_equal(f"unit of {spec['name']}", spec["unit"], metrics[-1].unit)
        found = suite.watch.wait(
            "metrics", lambda: points_for(suite.collector.metrics(spec["name"]), method, grpc.StatusCode.OK),
            f"{spec['name']} data points for {method} calls")
        if not found:
            seen = [decode_attributes(p.attributes) for m in metrics for p in m.metric.histogram.data_points]
            raise Mismatch(f"no {spec['name']} data point identifies {method} calls; points seen: {seen[:5]}")
        errors = suite.profile.point_errors(spec, found[-1][1], method, grpc.StatusCode.OK)
        if errors:
            raise Mismatch(f"{spec['name']} data point attributes break the '{suite.profile.label}' "
                           "profile: " + "; ".join(errors))


@check("MET-002", "MUST", "RPC duration histogram counts every call",
       RPC_METRICS + " (one measurement per RPC)", "metrics", killed_by=("duration-recorded-twice",),
       exclusive=True, zero_contract=True,
       fix="Record exactly one duration measurement per RPC: register the gRPC metrics instrumentation once (not "
           "both an interceptor and a stats handler, nor per server and again globally) and do not also record the "
           "histogram by hand.")
def test_met_002_duration_histogram_counts_calls(suite):
    method = ok_method(suite)
    names = [spec["name"] for spec in suite.profile.server_durations]
    for name in names:
        require_exported(suite, name)

    def total(name):
        return counted(suite.collector.metrics(name), method, grpc.StatusCode.OK)[0]

    before = {name: total(name) for name in names}
    calls = 5
    _make_calls(suite, calls)
    made = suite.client.calls_made[(method, "OK")]
    for name in names:
        # With the suite as the only caller (launch mode) the count must match exactly.
        target = made if suite.launched is not None else before[name] + calls
        reached = suite.watch.wait("metrics", lambda: (t := total(name)) >= target and t,
                                   f"{name} counting {target} {method} calls")
        if not reached:
            raise Mismatch(f"{name} count for {method}: expected at least {target} after {calls} more "
                           f"calls (the suite made {made} in all), got {total(name)}")
        if suite.launched is not None:
            expect_equal(f"{name} count for {method} vs the suite's successful {method} calls", made, reached)


# OTel semantic conventions for the seed's USE metrics: process-wide ones, or a runtime's own.
PROCESS_METRICS = "semconv docs/system/process-metrics.md (process.cpu.time, process.memory.usage); " \
    "semconv docs/runtime/ (go.*, jvm.*, dotnet.*, v8js.* runtime metrics); architecture §Metrics (USE: CPU, memory)"
CPU_METRICS = ("process.cpu.time", "process.cpu.utilization", "jvm.cpu.time", "dotnet.process.cpu.time")
MEMORY_METRICS = ("process.memory.usage", "process.memory.virtual", "go.memory.used", "jvm.memory.used",
                  "dotnet.process.memory.working_set", "v8js.memory.heap.used")
UNITS = {"process.cpu.time": "s", "jvm.cpu.time": "s", "dotnet.process.cpu.time": "s", "process.cpu.utilization": "1"}


def _first_named(suite, names) -> MetricView | None:
    return next((m for m in suite.collector.metrics() if m.name in names), None)


@check("MET-008", "SHOULD", "the service exports its CPU and memory use (process or runtime metrics)",
       PROCESS_METRICS, "metrics", zero_contract=True,
       fix="Register process or runtime metrics with the MeterProvider, a CPU one (process.cpu.time in s) and a "
           "memory one (process.memory.usage in By), e.g. the host and runtime instrumentation in Go "
           "(go.opentelemetry.io/contrib/instrumentation/host and .../runtime) or runtime-telemetry in Java.")
def test_met_008_process_cpu_and_memory(suite):
    # Process metrics are observed at every periodic export, so one export that began after
    # this check did carries them if the service has them at all.
    since = time.time()
    suite.watch.wait("metrics", lambda: any(m.received_at > since for m in suite.collector.metrics()),
                     "a metrics export")
    cpu, memory = _first_named(suite, CPU_METRICS), _first_named(suite, MEMORY_METRICS)
    missing = [what for what, found in (("CPU", cpu), ("memory", memory)) if found is None]
    if missing:
        names = sorted({m.name for m in suite.collector.metrics()})
        raise Mismatch(f"expected a {' and a '.join(missing)} metric of the OTel semantic conventions (CPU: one of "
                       f"{', '.join(CPU_METRICS)}; memory: one of {', '.join(MEMORY_METRICS)}), got only {names}; "
                       f"register process metrics (process.cpu.time, process.memory.usage) with the meter provider")
    for metric in (cpu, memory):
        expected = UNITS.get(metric.name, "By")
        expect_equal(f"unit of {metric.name}", expected, metric.unit)

"""The seed's backends (``--backends``): what the service exports is queryable where the seed's
dashboards look, behind a real OpenTelemetry Collector.

Jaeger v2 (memory storage) receives the collector's traces over OTLP and is asked over its
query API (``/api/traces/{id}``); Prometheus scrapes the collector's prometheus exporter and is
asked with PromQL (``/api/v1/query``). Elasticsearch, the seed's logs backend, is left out: it is
not to be had here (docs/pipeline.md). These checks run only with --backends; any other run
deselects them.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import grpc
import pytest

from otelconform.ids import unique
from otelconform.registry import check
from otelconform.verdicts import Mismatch, NoTelemetry, measured

from ._calls import failed_call, relay, target_service

SEED_TRACES = "architecture §Distributed Tracing Design and §Deployment Architecture (OTel Collector → Jaeger)"
SEED_RED = "architecture §Metrics Collection 'RED Metrics'; semconv rpc-metrics (the OTel names)"
PROM_NAMES = ("OTel → Prometheus compatibility (specification/compatibility/prometheus_and_openmetrics.md: "
              "name, unit suffix, _total/_bucket/_count)")
SERVER, CLIENT = "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT"
POLL_START, POLL_MAX = 0.05, 0.5  # a backend's HTTP API announces nothing: asked again, ever less often


def _backends(suite):
    pipeline = getattr(suite, "pipeline", None)
    if pipeline is None or pipeline.backends is None:
        pytest.skip("a backend check: run with --backends (Jaeger and Prometheus behind a real collector)")
    return pipeline.backends


def _poll(ask, timeout: float):
    """``ask()`` again until it returns a truthy value or ``timeout`` passes; its last value."""
    deadline, pace = time.monotonic() + timeout, POLL_START
    while True:
        answer = ask()
        if answer or time.monotonic() >= deadline:
            return answer
        time.sleep(pace)
        pace = min(pace * 2, POLL_MAX)


def _backend_timeout(suite) -> float:
    # The seed's batch processor holds telemetry up to 1 s, Jaeger's another 0.1 s, and
    # Prometheus scrapes every second: on top of the usual wait for telemetry.
    return suite.telemetry_timeout + 3


def _jaeger_spans(document) -> dict[str, dict]:
    """span id → {"parent", "service", "kind", "name"} from Jaeger's trace JSON."""
    if not isinstance(document, dict) or not document.get("data"):
        return {}
    trace = document["data"][0]
    processes = trace.get("processes", {})
    spans = {}
    for span in trace.get("spans", []):
        parents = [r["spanID"] for r in span.get("references", []) if r.get("refType") == "CHILD_OF"]
        tags = {t["key"]: t.get("value") for t in span.get("tags", [])}
        spans[span["spanID"]] = {"parent": parents[0] if parents else "", "name": span.get("operationName"),
                                 "service": processes.get(span.get("processID"), {}).get("serviceName"),
                                 "kind": tags.get("span.kind", "")}
    return spans


@check("BACK-001", "MUST", "the trace of a suite call is retrievable from Jaeger by its id, with the service's "
       "name and every parent link the service exported", SEED_TRACES + "; Jaeger query API /api/traces/{id}",
       "traces", killed_by=("drop-incoming-context",), launch_only=True, backends=True,
       fix="Export every span of a call with OTLP to the collector under one trace id, each with its parent span "
           "id (the incoming traceparent's for the server span, the server span's for the client span) and the "
           "resource's service.name; the collector's traces pipeline must end in Jaeger's OTLP receiver (the "
           "architecture document's jaeger exporter, removed from the collector, is now otlp).")
def test_back_001_trace_in_jaeger(suite):
    backends = _backends(suite)
    trace_id, parent_id, _ = relay(suite, "jaeger")
    timeout = _backend_timeout(suite)
    # What the service exported for this trace, as the suite's collector got it through the collector.

    def server_and_client():
        spans = [s for s in suite.collector.spans(trace_id) if s.kind in (SERVER, CLIENT)]
        return spans if {s.kind for s in spans} == {SERVER, CLIENT} else None

    spans = suite.collector.wait_for(server_and_client, timeout, "traces")
    if not spans:
        raise NoTelemetry(f"no server and client span of the Relay call's trace {trace_id} reached the suite's "
                          f"collector within {timeout:g}s, so Jaeger holds nothing under that id to compare: the "
                          f"service must continue the incoming trace and export both spans (PROP-001, SPAN-004)")
    wanted = {s.span_id: s for s in spans}
    found = _poll(lambda: (stored := _jaeger_spans(backends.jaeger.trace(trace_id)[1]))
                  and wanted.keys() <= stored.keys() and stored, timeout)
    status, document = backends.jaeger.trace(trace_id)
    stored = _jaeger_spans(document)
    if not found:
        missing = sorted(wanted.keys() - stored.keys())
        raise Mismatch(f"expected Jaeger ({backends.jaeger.url}/api/traces/{trace_id}) to hold the trace's "
                       f"{len(wanted)} span(s) the service exported ({', '.join(sorted(wanted))}) within "
                       f"{timeout:g}s, got HTTP {status} with {len(stored)} span(s); missing {', '.join(missing)}")
    service = target_service(suite)
    problems = []
    for span_id, span in wanted.items():
        kept = stored[span_id]
        if kept["parent"] != span.parent_span_id:
            problems.append(f"span {span_id} ({span.name}): parent expected {span.parent_span_id or 'none'}, "
                            f"Jaeger has {kept['parent'] or 'none'}")
        if kept["service"] != service:
            problems.append(f"span {span_id} ({span.name}): service expected {service!r}, Jaeger has "
                            f"{kept['service']!r}")
    server = [s for s in wanted.values() if s.kind == "SPAN_KIND_SERVER" and s.parent_span_id == parent_id]
    if not server:
        problems.append(f"no server span whose parent is the suite's span {parent_id} (the incoming traceparent)")
    if problems:
        raise Mismatch("Jaeger's copy of trace " + trace_id + " differs from what the service exported: "
                       + "; ".join(problems))
    measured(f"Jaeger holds trace {trace_id}: {len(wanted)} span(s) under {service!r}, the server span the child "
             f"of the suite's {parent_id}, the client span the child of the server span")


@dataclass(frozen=True)
class Names:
    """A profile's server duration histogram as the collector's prometheus exporter names it."""

    base: str  # e.g. rpc_server_call_duration_seconds
    method_labels: tuple[str, ...]
    status_label: str
    ok_value: str

    @classmethod
    def of(cls, metric: dict) -> "Names":
        unit = {"ms": "milliseconds", "s": "seconds"}[metric["unit"]]
        base = f"{metric['name'].replace('.', '_')}_{unit}"
        if metric["name"] == "rpc.server.duration":  # semconv ≤ 1.38: rpc.service + rpc.method, int status
            return cls(base, ("rpc_service", "rpc_method"), "rpc_grpc_status_code", "0")
        return cls(base, ("rpc_method",), "rpc_response_status_code", "OK")

    def red(self, job: str) -> dict[str, str]:
        by = ", ".join(self.method_labels)
        sel = f'job="{job}"'
        count = f"{self.base}_count"
        return {
            "request rate": f"sum by ({by}, {self.status_label}) (rate({count}{{{sel}}}[1m]))",
            "error ratio": f'sum(rate({count}{{{sel}, {self.status_label}!="{self.ok_value}"}}[1m])) '
                           f"/ sum(rate({count}{{{sel}}}[1m]))",
            "duration p99": f"histogram_quantile(0.99, sum by (le, {by}) (rate({self.base}_bucket{{{sel}}}[1m])))",
        }


# The seed's RED queries (architecture §Metrics Collection), as written, and in the runnable
# form their label lists stand for. Their names are go-grpc-prometheus's, not OpenTelemetry's.
SEED_QUERIES = {
    "request rate": ("grpc_server_handled_total{grpc_service, grpc_method, grpc_code}",
                     "sum by (grpc_service, grpc_method, grpc_code) (rate(grpc_server_handled_total[1m]))"),
    "error ratio": ('grpc_server_handled_total{grpc_code!="OK"} / grpc_server_handled_total',
                    'grpc_server_handled_total{grpc_code!="OK"} / grpc_server_handled_total'),
    "duration p99": ("grpc_server_handling_seconds_bucket{grpc_service, grpc_method}",
                     "histogram_quantile(0.99, sum by (le, grpc_service, grpc_method) "
                     "(rate(grpc_server_handling_seconds_bucket[1m])))"),
}


def _after_echo_calls(suite, tag: str, calls: int = 3):
    """(backends, the job the service's metrics are under, how long to wait) after ``calls`` Echo calls."""
    backends = _backends(suite)
    for _ in range(calls):
        suite.client.echo(unique(tag)).require()
    return backends, target_service(suite) or suite.service_name, _backend_timeout(suite)


def _answer(prometheus, query: str) -> str:
    status, result = prometheus.query(query)
    if status != "success":
        return f"error ({result})"
    return f"{len(result)} series" if result else "no data"


@check("BACK-002", "MUST", "the service's RPC duration histogram is in Prometheus under its OTel name, counting "
       "the suite's calls", PROM_NAMES + "; " + SEED_RED, "metrics", killed_by=("metric-renamed",), launch_only=True,
       backends=True,
       fix="Export the profile's server duration histogram (rpc.server.duration in ms, or rpc.server.call.duration "
           "in s) with cumulative temporality to the collector; its prometheus exporter serves it as "
           "<name>_<unit>_bucket/_sum/_count with job = service.name.")
def test_back_002_histogram_in_prometheus(suite):
    backends, job, timeout = _after_echo_calls(suite, "prometheus")
    found = []
    for metric in suite.profile.server_durations:
        names = Names.of(metric)
        query = f'sum({names.base}_count{{job="{job}"}})'
        answer = _poll(lambda: (r := backends.prometheus.query(query))[0] == "success" and r[1]
                       and float(r[1][0]["value"][1]) >= 3 and r[1], timeout)
        if not answer:
            status, result = backends.prometheus.query(f"{names.base}_count")
            raise Mismatch(f"expected Prometheus ({backends.prometheus.url}) to answer {query} with a count of at "
                           f"least 3 (the suite's Echo calls) within {timeout:g}s, got "
                           f"{_answer_text(status, result, job)}; "
                           f"the profile's {metric['name']} ({metric['unit']}) is served by the collector's "
                           f"prometheus exporter as {names.base}_count")
        found.append(f"{query} = {answer[0]['value'][1]}")
    measured("; ".join(found))


def _answer_text(status: str, result, job: str) -> str:
    """What Prometheus holds under the metric's name, whatever its job."""
    if status != "success":
        return f"an error ({result})"
    if not result:
        return "no series under that name at all"
    jobs = sorted({series["metric"].get("job", "") for series in result})
    return f"{len(result)} series under that name, with job {jobs} but not {job!r}"


@check("BACK-003", "SHOULD", "the architecture document's RED queries answer in Prometheus once translated to the OTel names",
       SEED_RED + "; " + PROM_NAMES, "metrics", killed_by=("metric-renamed",), launch_only=True,
       backends=True,
       fix="Query the OTel names: the architecture document's grpc_server_handled_total and grpc_server_handling_seconds_bucket "
           "come from go-grpc-prometheus, which an OpenTelemetry service does not emit; the request rate, error "
           "ratio and duration come from the RPC duration histogram's _count and _bucket series "
           "(docs/pipeline.md lists the translations).")
def test_back_003_red_queries(suite):
    backends, job, timeout = _after_echo_calls(suite, "red")
    failed_call(suite, grpc.StatusCode.INVALID_ARGUMENT)
    report, empty = [], []
    for metric in suite.profile.server_durations:
        for what, query in Names.of(metric).red(job).items():
            answer = _poll(lambda: (r := backends.prometheus.query(query))[0] == "success" and r[1], timeout)
            if answer:
                report.append(f"{what}: {query} → {len(answer)} series")
            else:
                empty.append(f"{what}: {query} → {_answer(backends.prometheus, query)}")
    seed = []
    for what, (as_written, runnable) in SEED_QUERIES.items():
        said = f"{what}: as the architecture document writes it, {as_written!r} → {_answer(backends.prometheus, as_written)}"
        if runnable != as_written:
            said += f", runnable {runnable!r} → {_answer(backends.prometheus, runnable)}"
        seed.append(said)
    if empty:
        raise Mismatch("expected every translated RED query to return data, got none for " + "; ".join(empty)
                       + " (those that did: " + ("; ".join(report) or "none") + ")")
    measured("translated: " + "; ".join(report) + ". The architecture document's own: " + "; ".join(seed))

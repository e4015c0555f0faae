"""The seed's telemetry pipeline, for real: ``--via-collector`` and ``--backends``.

``--via-collector`` puts a real OpenTelemetry Collector (``otelconform_fixtures.real_collector``)
between a launched target and the suite's fake collector. Its config is the seed's
(``SEED_COLLECTOR_CONFIG``, as the architecture document gives it), first run through the
collector's own ``validate`` as written (it fails: the ``jaeger`` exporter left the collector in
v0.85, and ``elasticsearch`` is a contrib component this build leaves out), then adapted: every
endpoint on a free loopback port, the seed's processors kept, and each pipeline exporting with
``otlp`` to the suite's fake collector, so every check judges what the real collector forwarded.
The seed's ``prometheus`` exporter stays in the metrics pipeline.

The session's main instance goes through it. The instances a configuration check starts for
itself (``instances.py``: ENV-*, EXP-* and the like) keep exporting straight to their own fake
collectors: those checks judge the target's exporter (its variables, retries, headers,
compression, refusals), which a collector in between would hide behind its own exporter.

``--backends`` (implies ``--via-collector``) adds Jaeger and Prometheus behind it
(``backends.py``).

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from otelconform_fixtures.real_collector import (DESCRIPTION, OCB_VERSION, BuildError, CollectorError, RealCollector,
                                                 Validation, collector_binary, validate)
from otelconform_fixtures.backends import Backends
from otelconform_fixtures.target import free_port

from .selection import item_info

# The OpenTelemetry Collector configuration of the seed architecture (its section "OpenTelemetry
# Collector Configuration"), exactly as written there.
SEED_COLLECTOR_CONFIG = """\
# otel-collector-config.yaml
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 0.0.0.0:4317
      http:
        endpoint: 0.0.0.0:4318  # Fallback for environments requiring HTTP

processors:
  batch:
    timeout: 1s
    send_batch_size: 1024
  memory_limiter:
    check_interval: 1s
    limit_mib: 1000

exporters:
  jaeger:
    endpoint: jaeger-collector:14250  # Jaeger stores traces in Elasticsearch
    tls:
      insecure: true
  prometheus:
    endpoint: 0.0.0.0:8889
  elasticsearch:
    endpoints: ["http://elasticsearch:9200"]
    logs_index: logs-otel  # Shared Elasticsearch cluster with Jaeger traces

service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [jaeger]
    metrics:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [prometheus]
    logs:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [elasticsearch]
"""

# What the adaptation replaces, and with what (said in the report).
REPLACED = {"jaeger": "otlp to Jaeger's OTLP receiver (--backends) — the jaeger exporter was removed from "
                      "the collector in v0.85; Jaeger v2 takes OTLP itself",
            "elasticsearch": "left out: Elasticsearch is not to be had here, so there is no logs backend"}
SUITE_EXPORTER = "otlp/conformance-suite"
JAEGER_EXPORTER = "otlp/jaeger"


UNKNOWN_TYPE = re.compile(r"'exporters' unknown type: \"([^\"]+)\"[^\n]*")


def seed_validation(binary: Path) -> list[Validation]:
    """The collector's ``validate`` on the seed's config as written, then, while it names an
    unknown exporter, again without that exporter: ``validate`` stops at the first unknown type,
    and the seed has two (elasticsearch, a contrib exporter this build leaves out; jaeger, which
    no build has had since v0.85)."""
    config = yaml.safe_load(SEED_COLLECTOR_CONFIG)
    results = [validate(binary, SEED_COLLECTOR_CONFIG)]
    while not results[-1].ok and len(results) < 4:
        unknown = UNKNOWN_TYPE.search(results[-1].output)
        if unknown is None or unknown.group(1) not in config["exporters"]:
            break
        config["exporters"].pop(unknown.group(1))
        for pipeline in config["service"]["pipelines"].values():
            pipeline["exporters"] = [e for e in pipeline["exporters"] if e != unknown.group(1)]
        results.append(validate(binary, yaml.safe_dump(config, sort_keys=False)))
    return results


def describe_validation(results: list[Validation]) -> str:
    said, removed = [], []
    for result in results:
        unknown = UNKNOWN_TYPE.search(result.output)
        what = unknown.group(0) if unknown else ("passes" if result.ok else result.reason())
        said.append((f"without {' and '.join(removed)}: " if removed else "as written: ") + what)
        if unknown:
            removed.append(unknown.group(1))
    verdict = "passes" if results[0].ok else "fails"
    return f"the architecture document's collector config {verdict} the collector's validate ({'; '.join(said)})"


class PipelineError(RuntimeError):
    """The real pipeline could not be built or started (the suite cannot run as asked)."""


@dataclass
class Ports:
    grpc: int = field(default_factory=free_port)
    http: int = field(default_factory=free_port)
    prometheus: int = field(default_factory=free_port)


def adapted_config(forward_to: int, ports: Ports, jaeger_otlp: int | None = None,
                   seed_text: str = SEED_COLLECTOR_CONFIG) -> str:
    """The seed's config, adapted: loopback ports, ``otlp`` to the suite's collector on port
    ``forward_to`` (and to Jaeger's OTLP/gRPC receiver on ``jaeger_otlp``), no jaeger and no
    elasticsearch exporter, the collector's own telemetry off (no fixed port 8888)."""
    config = yaml.safe_load(seed_text)
    protocols = config["receivers"]["otlp"]["protocols"]
    protocols["grpc"]["endpoint"] = f"127.0.0.1:{ports.grpc}"
    protocols["http"]["endpoint"] = f"127.0.0.1:{ports.http}"
    exporters = config["exporters"]
    for gone in REPLACED:
        exporters.pop(gone, None)
    exporters["prometheus"]["endpoint"] = f"127.0.0.1:{ports.prometheus}"
    exporters[SUITE_EXPORTER] = {"endpoint": f"127.0.0.1:{forward_to}", "tls": {"insecure": True}}
    if jaeger_otlp is not None:
        exporters[JAEGER_EXPORTER] = {"endpoint": f"127.0.0.1:{jaeger_otlp}", "tls": {"insecure": True}}
    pipelines = config["service"]["pipelines"]
    for name, pipeline in pipelines.items():
        kept = [e for e in pipeline["exporters"] if e not in REPLACED]
        pipeline["exporters"] = [SUITE_EXPORTER, *kept]
    if jaeger_otlp is not None:
        pipelines["traces"]["exporters"].append(JAEGER_EXPORTER)
    config["service"]["telemetry"] = {"metrics": {"level": "none"}}
    return yaml.safe_dump(config, sort_keys=False)


@dataclass
class Pipeline:
    """The running real collector, as ``session.launch_env`` sees a collector: where to export."""

    collector: RealCollector
    ports: Ports
    seed_validation: list[Validation]
    workdir: Path
    backends: Backends | None = None  # --backends: Jaeger and Prometheus behind the collector
    tls = None  # the real collector serves plaintext OTLP on loopback

    def endpoint(self, protocol: str = "grpc") -> str:
        return f"http://127.0.0.1:{self.ports.grpc if protocol == 'grpc' else self.ports.http}"

    def describe(self, received=()) -> str:
        """For the report; ``received``: the exports of the suite's collector, to say how many came
        through the real collector (its exporter's user-agent)."""
        seed = describe_validation(self.seed_validation)
        received = list(received)
        forwarded = sum(came_through_collector(e) for e in received)
        return (f"{forwarded} of {len(received)} exports reached the suite's collector through the real collector; "
                f"via a real OpenTelemetry Collector (OCB {OCB_VERSION}, 127.0.0.1:{self.ports.grpc} OTLP/gRPC, "
                f":{self.ports.http} OTLP/HTTP, prometheus exporter :{self.ports.prometheus}): {seed}; ran the "
                f"architecture document's config adapted: {'; '.join(f'{k} -> {v}' for k, v in REPLACED.items())}; every pipeline "
                f"also exports with otlp to the suite's collector"
                + (f"; backends: {self.backends.describe()}" if self.backends is not None else "")
                + f"; configs and logs in {self.workdir}")

    def stop(self) -> None:
        self.collector.stop()
        if self.backends is not None:
            self.backends.stop()


def came_through_collector(export) -> bool:
    """Sent by an OpenTelemetry Collector's exporter (its user-agent names it)."""
    return any(key == "user-agent" and value.startswith(DESCRIPTION) for key, value in export.metadata)


def asked(config) -> bool:
    return bool(config.getoption("--via-collector") or config.getoption("--backends"))


def start(forward_to: int, ready_timeout: float, backends: bool = False) -> Pipeline:
    """Build (once, cached) and start the real collector forwarding to port ``forward_to``; with
    ``backends``, Jaeger and Prometheus behind it first."""
    workdir = Path(tempfile.mkdtemp(prefix="otelconform-pipeline-"))
    ports = Ports()
    stack = None
    try:
        binary = collector_binary()
        seed = seed_validation(binary)
        if backends:
            stack = Backends.start(workdir, ports.prometheus, ready_timeout)
        collector = RealCollector(binary, adapted_config(forward_to, ports, stack.jaeger.otlp_grpc if stack else None),
                                  (ports.grpc, ports.http, ports.prometheus), workdir)
        collector.start(ready_timeout)
    except (BuildError, CollectorError) as exc:
        if stack is not None:
            stack.stop()
        raise PipelineError(f"{'--backends' if backends else '--via-collector'}: {exc}") from None
    return Pipeline(collector, ports, seed, workdir, stack)


def select(config, items, listing_catalog: bool) -> None:
    """The backend checks run only with --backends (they query Jaeger and Prometheus); any other
    run leaves them out, unless it only lists the catalog."""
    if listing_catalog or config.getoption("--backends"):
        return
    dropped = [i for i in items if (info := item_info(i)) is not None and info.backends]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [i for i in items if i not in dropped]

"""The configurations a check can ask the service to be started with (see ``instances.py``).

Each is the standard ``OTEL_*`` environment a check is about, plus, for the exporter checks,
how the instance's own collector answers. Values may name the instance's receivers:
``{endpoint}`` (for the instance's protocol), ``{http_endpoint}``, ``{traces_endpoint}`` (a
per-signal traces endpoint, see ``PER_SIGNAL_PATH``) and ``{token}`` (drawn per session).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from otelconform_fixtures import faults as answers
from otelconform_fixtures.faults import FaultPlan

# OTEL_EXPORTER_OTLP_TRACES_ENDPOINT over OTLP/HTTP is used as given: traces must reach this
# path, not /v1/traces, nor this path with /v1/traces appended.
PER_SIGNAL_PATH = "/conformance/traces-endpoint"
SAMPLER_RATIO = 0.25
EXPORT_TIMEOUT_MS = 1000
# Longer than the SDKs' first default backoff (1 s in Python), so ignoring it shows.
THROTTLE_S = 2.0


@dataclass(frozen=True)
class Configuration:
    name: str
    summary: str  # what the user reads: the variables, and the collector's behaviour
    env: tuple[tuple[str, str], ...] = ()
    protocol: str | None = None  # OTEL_EXPORTER_OTLP_PROTOCOL, when not the session's
    faults: Callable[[], FaultPlan | None] = lambda: None  # a fresh plan per instance
    http_paths: tuple[tuple[str, str], ...] = ()  # extra OTLP/HTTP paths the collector serves
    needs_other_collector: bool = False
    companions: tuple[str, ...] = ()  # configurations its checks also use, started along with it
    away_at_start: bool = False  # the collector's ports cut every connection until a check brings it up
    # Both endpoints are one port that takes either transport (fixtures/transport_front.py), so
    # an export over the transport the service was not told to use is seen at once.
    either_transport: bool = False
    # The collector serves TLS with a certificate of a CA made for it alone, while the service
    # is given the session's CA and client certificate (runs with --collector-tls only).
    impostor_tls: bool = False


def _env(**variables: str) -> tuple[tuple[str, str], ...]:
    return tuple(variables.items())


def _summary(env: tuple[tuple[str, str], ...], extra: str = "") -> str:
    told = ", ".join(f"{k}={v}" for k, v in env)
    return f"{told}{'; ' if told and extra else ''}{extra}"


def _configuration(name: str, env=(), extra: str = "", **kw) -> Configuration:
    return Configuration(name, _summary(env, extra), env, **kw)


def _faulty(name: str, plan: Callable[[], FaultPlan]) -> Configuration:
    return Configuration(name, plan().describe(), faults=plan)


RESOURCE_ATTRIBUTES = ("deployment.environment.name=conformance,conformance.marker=set%20from%20env,"
                       "service.name=name-from-resource-attributes,service.version=version-from-env")
OVERHEAD_PACE = _env(OTEL_BSP_SCHEDULE_DELAY="1000", OTEL_BLRP_SCHEDULE_DELAY="1000")
HEADERS = "x-conformance-token={token},x-conformance-note=two%20words"

CONFIGURATIONS: dict[str, Configuration] = {c.name: c for c in (
    _configuration("resource-attributes", _env(OTEL_RESOURCE_ATTRIBUTES=RESOURCE_ATTRIBUTES)),
    _configuration("sampler-always-off", _env(OTEL_TRACES_SAMPLER="always_off")),
    _configuration("sampler-always-on", _env(OTEL_TRACES_SAMPLER="always_on")),
    _configuration("sampler-ratio", _env(OTEL_TRACES_SAMPLER="traceidratio",
                                         OTEL_TRACES_SAMPLER_ARG=str(SAMPLER_RATIO))),
    _configuration("sampler-parent-ratio", _env(OTEL_TRACES_SAMPLER="parentbased_traceidratio",
                                                OTEL_TRACES_SAMPLER_ARG=str(SAMPLER_RATIO))),
    _configuration("propagators-tracecontext", _env(OTEL_PROPAGATORS="tracecontext")),
    _configuration("propagators-both", _env(OTEL_PROPAGATORS="tracecontext,baggage")),
    _configuration("propagators-none", _env(OTEL_PROPAGATORS="none")),
    # Metrics every 100 ms: the transport of every signal is judged.
    *(_configuration(f"protocol-{p.replace('/', '-')}",
                     _env(OTEL_EXPORTER_OTLP_PROTOCOL=p, OTEL_METRIC_EXPORT_INTERVAL="100"),
                     "the collector takes either transport on one port", protocol=p, either_transport=True)
      for p in ("grpc", "http/protobuf", "http/json")),
    _configuration("per-signal-endpoint", _env(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="{traces_endpoint}"),
                   http_paths=((PER_SIGNAL_PATH, "traces"),), needs_other_collector=True),
    _configuration("exporter-settings", _env(OTEL_EXPORTER_OTLP_HEADERS=HEADERS,
                                             OTEL_EXPORTER_OTLP_COMPRESSION="gzip")),
    Configuration("exporter-timeout", _summary(_env(OTEL_EXPORTER_OTLP_TIMEOUT=str(EXPORT_TIMEOUT_MS)),
                                               FaultPlan(answers.held(5)).describe()),
                  _env(OTEL_EXPORTER_OTLP_TIMEOUT=str(EXPORT_TIMEOUT_MS)), faults=lambda: FaultPlan(answers.held(5))),
    # Metrics every 100 ms, so that an SDK exporting them anyway is seen within ENV-040's second.
    _configuration("sdk-disabled", _env(OTEL_SDK_DISABLED="true", OTEL_METRIC_EXPORT_INTERVAL="100")),
    # The overhead check's pair, identical but for the switch, exporting at an everyday pace
    # (the SDKs' default log delay; a fifth of their span delay) rather than every 5 ms.
    Configuration("overhead-instrumented", _summary(OVERHEAD_PACE, "timed against a twin started with "
                                                    "OTEL_SDK_DISABLED=true"),
                  OVERHEAD_PACE, companions=("overhead-sdk-disabled",)),
    _configuration("overhead-sdk-disabled", OVERHEAD_PACE + _env(OTEL_SDK_DISABLED="true")),
    _faulty("collector-unavailable", lambda: FaultPlan(answers.UNAVAILABLE)),
    _faulty("collector-invalid-argument", lambda: FaultPlan(answers.INVALID_ARGUMENT)),
    _faulty("collector-partial-success", lambda: FaultPlan(answers.PARTIAL_SUCCESS)),
    _faulty("collector-throttling", lambda: FaultPlan(answers.throttled(THROTTLE_S))),
    Configuration("collector-away", "the collector is away when the service starts (its ports cut every "
                  "connection unanswered) and comes up once a traces export has been tried", away_at_start=True),
    Configuration("collector-impostor", "OTEL_EXPORTER_OTLP_CERTIFICATE names the session's CA, and the collector "
                  "at the https endpoint presents a certificate another CA signed", impostor_tls=True),
)}

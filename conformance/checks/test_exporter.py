"""The OTLP exporter's OTEL_EXPORTER_OTLP_* variables: protocol, per-signal endpoint, headers,
compression and timeout, each judged by what the instance's own collector received.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

from urllib.parse import unquote

import pytest

from otelconform.configurations import EXPORT_TIMEOUT_MS, PER_SIGNAL_PATH
from otelconform.contract import pb
from otelconform.ids import unique
from otelconform.instances import instance_for
from otelconform.registry import check
from otelconform.verdicts import Mismatch, NoTelemetry, expect_equal

from ._calls import traced_echo_span

EXPORTER_SPEC = "OTel spec protocol/exporter.md §Configuration Options"
ENV_SPEC = "OTel spec configuration/sdk-environment-variables.md"


def _exports_after_a_call(view, signal: str = "traces"):
    """Every decodable export of ``signal`` once a traced call's span is in."""
    traced_echo_span(view)
    return [e for e in view.collector.exports(signal) if not e.error]


def _transport(suite, protocol: str) -> None:
    view = instance_for(suite, f"protocol-{protocol.replace('/', '-')}")
    view.client.echo(unique("env-protocol")).require()
    view.client.log(unique("env-protocol log"), pb.SEVERITY_INFO, {}).require()

    def decodable(signal: str):
        return [e for e in view.collector.exports(signal) if not e.error]

    view.watch.wait("traces", lambda: decodable("traces"), "a decodable traces export")
    # The variable is every signal's: traces on the right transport say nothing of the logs
    # and metrics (Go's trace exporter reads http/json, its log and metric exporters do not).
    for signal in ("logs", "metrics"):
        try:
            view.watch.wait(signal, lambda s=signal: decodable(s), f"a decodable {signal} export")
        except NoTelemetry:
            pass  # a service that exports no such signal is judged on those it does export
    exports = [e for e in view.collector.exports() if not e.error]
    per_signal = "; ".join(f"{signal}: {', '.join(sorted({e.transport for e in exports if e.signal == signal}))}"
                           for signal in ("traces", "logs", "metrics") if any(e.signal == signal for e in exports))
    expect_equal(f"OTLP transports used with OTEL_EXPORTER_OTLP_PROTOCOL={protocol}", [protocol],
                 sorted({e.transport for e in exports}),
                 fix=f"build every signal's exporter from OTEL_EXPORTER_OTLP_PROTOCOL (and its per-signal "
                     f"variants); seen per signal: {per_signal}")


@check("ENV-030", "SHOULD", "OTEL_EXPORTER_OTLP_PROTOCOL=grpc is honoured",
       EXPORTER_SPEC + " (Protocol; 'SDKs SHOULD support both grpc and http/protobuf')", "traces",
       configuration="protocol-grpc",
       fix="Choose every signal's exporter (traces, metrics, logs) from OTEL_EXPORTER_OTLP_PROTOCOL and its "
           "per-signal variants instead of hard-coding one transport; with grpc, use the OTLP/gRPC exporters (in "
           "SDKs with one package per protocol, e.g. otlptracegrpc in Go, pick it in the service's setup).")
def test_env_030_protocol_grpc(suite):
    _transport(suite, "grpc")


@check("ENV-031", "SHOULD", "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf is honoured",
       EXPORTER_SPEC + " (Protocol; 'SDKs SHOULD support both grpc and http/protobuf')", "traces",
       killed_by=("ignore-protocol",), configuration="protocol-http-protobuf",
       fix="Choose every signal's exporter (traces, metrics, logs) from OTEL_EXPORTER_OTLP_PROTOCOL and its "
           "per-signal variants; with http/protobuf, export over OTLP/HTTP (POST to /v1/traces, /v1/metrics, "
           "/v1/logs) instead of gRPC (e.g. otlptracehttp in Go, picked in the service's setup).")
def test_env_031_protocol_http_protobuf(suite):
    _transport(suite, "http/protobuf")


@check("ENV-032", "MAY", "OTEL_EXPORTER_OTLP_PROTOCOL=http/json is honoured",
       EXPORTER_SPEC + " (Protocol; 'SDKs MAY support http/json')", "traces", configuration="protocol-http-json",
       fix="Choose every signal's exporter from OTEL_EXPORTER_OTLP_PROTOCOL; with http/json, use the OTLP/HTTP "
           "exporters' JSON encoding (Content-Type application/json) for traces, metrics and logs where the SDK has "
           "one.")
def test_env_032_protocol_http_json(suite):
    _transport(suite, "http/json")


@check("ENV-033", "MUST", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is where traces go (over HTTP, the URL as given)",
       EXPORTER_SPEC + " (Endpoint: per-signal endpoints are 'used as-is'); " + ENV_SPEC, "traces",
       killed_by=("ignore-signal-endpoint",), configuration="per-signal-endpoint",
       fix="Let OTEL_EXPORTER_OTLP_TRACES_ENDPOINT override OTEL_EXPORTER_OTLP_ENDPOINT for traces, and over "
           "OTLP/HTTP use its URL exactly as given: append /v1/traces only to the general endpoint, never to the "
           "per-signal one.")
def test_env_033_per_signal_endpoint(suite):
    view = instance_for(suite, "per-signal-endpoint")
    instance = view.instance
    view.client.echo(unique("env-033")).require()
    over_grpc = instance.env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "grpc"
    given = instance.env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
    if over_grpc:
        arrived = instance.other_collector.wait_for(lambda: instance.other_collector.exports("traces"),
                                                    view.telemetry_timeout)
        if arrived:
            return
    else:
        arrived = view.collector.wait_for(lambda: [e for e in view.collector.exports("traces")
                                                   if e.path == PER_SIGNAL_PATH], view.telemetry_timeout)
        if arrived:
            return
    elsewhere = sorted({e.path or "(gRPC)" for e in view.collector.exports("traces")})
    misdirected = sorted({a.path for a in view.collector.attempts("") if a.path.startswith(PER_SIGNAL_PATH)})
    seen = (f"traces went to the general endpoint instead ({', '.join(elsewhere)})" if elsewhere else
            f"traces were posted to {', '.join(misdirected)} (/v1/traces appended to a per-signal URL)"
            if misdirected else "no traces arrived anywhere")
    raise Mismatch(f"expected traces at OTEL_EXPORTER_OTLP_TRACES_ENDPOINT={given} within "
                   f"{view.telemetry_timeout:g}s: {seen}; a per-signal endpoint overrides "
                   f"OTEL_EXPORTER_OTLP_ENDPOINT and, over HTTP, is used exactly as given")


def _headers(view) -> tuple[dict[str, str], list]:
    exports = _exports_after_a_call(view)
    wanted = dict(item.split("=", 1) for item in view.instance.env["OTEL_EXPORTER_OTLP_HEADERS"].split(","))
    return wanted, exports


@check("ENV-034", "MUST", "OTEL_EXPORTER_OTLP_HEADERS are sent with every export",
       EXPORTER_SPEC + " (Headers); " + ENV_SPEC, "traces", killed_by=("ignore-exporter-headers",),
       configuration="exporter-settings",
       fix="Send the headers OTEL_EXPORTER_OTLP_HEADERS lists (and OTEL_EXPORTER_OTLP_TRACES_HEADERS) with every "
           "export, as HTTP headers or gRPC metadata; when the service also sets exporter headers in code, merge "
           "them with the variable's instead of replacing them.")
def test_env_034_headers_sent(suite):
    view = instance_for(suite, "exporter-settings")
    wanted, exports = _headers(view)
    key = "x-conformance-token"
    without = [e for e in exports if wanted[key] not in [v for k, v in e.metadata if k.lower() == key]]
    if without:
        got = [f"{k}: {v}" for k, v in without[0].metadata if k.lower().startswith("x-conformance")]
        raise Mismatch(f"expected every export to carry {key}: {wanted[key]} (from OTEL_EXPORTER_OTLP_HEADERS); "
                       f"{len(without)} of {len(exports)} trace export(s) did not (first carried {got or 'none'}); "
                       f"give the exporter the headers OTEL_EXPORTER_OTLP_HEADERS lists")


@check("ENV-035", "SHOULD", "OTEL_EXPORTER_OTLP_HEADERS: percent-encoded values are decoded",
       EXPORTER_SPEC + " (Headers: the W3C Baggage format, values percent-decoded)", "traces",
       configuration="exporter-settings",
       fix="Percent-decode the values of OTEL_EXPORTER_OTLP_HEADERS (two%20words is sent as 'two words'), as the "
           "variable's W3C Baggage format requires; let the SDK parse it rather than splitting it by hand.")
def test_env_035_header_values_decoded(suite):
    view = instance_for(suite, "exporter-settings")
    wanted, exports = _headers(view)
    key = "x-conformance-note"
    values = sorted({v for e in exports for k, v in e.metadata if k.lower() == key})
    expect_equal(f"{key} header values (given as {wanted[key]})", [unquote(wanted[key])], values,
                 fix="percent-decode OTEL_EXPORTER_OTLP_HEADERS values")


@check("ENV-036", "SHOULD", "OTEL_EXPORTER_OTLP_COMPRESSION=gzip compresses every export",
       EXPORTER_SPEC + " (Compression: gzip)", "traces", killed_by=("ignore-compression",),
       configuration="exporter-settings",
       fix="Set every exporter's compression from OTEL_EXPORTER_OTLP_COMPRESSION (and its per-signal variants): "
           "with gzip, send OTLP/HTTP bodies with Content-Encoding: gzip and OTLP/gRPC requests with grpc-encoding "
           "gzip.")
def test_env_036_gzip(suite):
    view = instance_for(suite, "exporter-settings")
    exports = _exports_after_a_call(view)
    plain = [e for e in exports if e.compression != "gzip"]
    if plain:
        raise Mismatch(f"expected every export gzip-compressed (OTEL_EXPORTER_OTLP_COMPRESSION=gzip); {len(plain)} "
                       f"of {len(exports)} trace export(s) were not; configure the exporter's compression "
                       f"from the variable")


@check("ENV-037", "SHOULD", f"OTEL_EXPORTER_OTLP_TIMEOUT={EXPORT_TIMEOUT_MS}: an unanswered export is "
       f"given up in time", EXPORTER_SPEC + " (Timeout: 'Maximum time the OTLP exporter will wait for each "
       "batch export')", "traces", configuration="exporter-timeout",
       fix="Read OTEL_EXPORTER_OTLP_TIMEOUT (milliseconds) as the limit of each export and set it as the gRPC "
           "deadline or the HTTP request timeout, so that an unanswered export is given up after that time rather "
           "than the 10 s default.")
def test_env_037_export_timeout(suite):
    view = instance_for(suite, "exporter-timeout")
    view.client.echo(unique("env-037")).require()
    held = view.collector.wait_for(lambda: [a for a in view.collector.attempts("traces") if a.answer != "accepted"],
                                   view.telemetry_timeout + 5)
    if not held:
        pytest.skip("no trace export arrived to be held, so the timeout cannot be judged (see the trace checks)")
    attempt, bound = held[0], EXPORT_TIMEOUT_MS / 1000
    if attempt.deadline_s is not None and attempt.deadline_s <= bound * 1.05:
        return  # the gRPC deadline the exporter set is the timeout
    if attempt.gave_up_after_s is not None and attempt.gave_up_after_s <= bound + 1:
        return
    stated = f"stated a deadline of {attempt.deadline_s:.2f} s, " if attempt.deadline_s is not None else ""
    waited = (f"gave up after {attempt.gave_up_after_s:.2f} s" if attempt.gave_up_after_s is not None
              else "was still waiting when the collector answered after 5 s")
    raise Mismatch(f"expected an export the collector does not answer to be given up within {bound:g} s "
                   f"(+1 s) with OTEL_EXPORTER_OTLP_TIMEOUT={EXPORT_TIMEOUT_MS}; the exporter {stated}{waited}; "
                   f"read the timeout from the variable (milliseconds)")

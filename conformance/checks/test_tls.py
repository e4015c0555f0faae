"""OTLP over TLS: the exporter uses the certificates it is given, and verifies the collector's.

Both checks run with ``--collector-tls`` (launch mode): the suite's collector then serves
OTLP/gRPC and OTLP/HTTP over TLS only, and accepts a connection only with a client
certificate its CA signed.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import pytest

from otelconform.ids import unique
from otelconform.instances import instance_for
from otelconform.registry import check
from otelconform.verdicts import Mismatch

from ._calls import traced_call

TLS_SPEC = ("OTel spec protocol/exporter.md §Configuration Options (Endpoint: 'https' means a secure "
            "connection; Certificate File: 'the trusted certificate to use when verifying a server's TLS "
            "credentials'; Client Certificate File and Client Key File: for the client's TLS credentials)")
# An exporter that does not verify the collector sends its first batch within the instance's
# 50 ms batch delay and a connection; twenty times that is ample, and bounds the wait.
IMPOSTOR_WINDOW_S = 2.0


def _needs_collector_tls(suite) -> None:
    if suite.launched is None or suite.collector.tls is None:
        pytest.skip("needs --target-cmd and --collector-tls: the suite's collector then serves OTLP over TLS "
                    "and hands the service its CA and a client certificate")


@check("TLS-001", "MUST", "over an https endpoint the exporter trusts OTEL_EXPORTER_OTLP_CERTIFICATE and "
       "presents OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE/_KEY", TLS_SPEC, "traces", launch_only=True,
       killed_by=("ignore-client-certificate",),
       fix="Connect with TLS when the endpoint is https, verify the collector with the CA in "
           "OTEL_EXPORTER_OTLP_CERTIFICATE and present the certificate and key in "
           "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY; do not force insecure "
           "credentials in code (e.g. WithInsecure() in Go).")
def test_tls_001_exports_over_mtls(suite):
    _needs_collector_tls(suite)
    _, trace_id, _ = traced_call(suite, "echo", unique("tls-001"))
    if not suite.collector.wait_for(lambda: suite.collector.spans(trace_id), suite.telemetry_timeout):
        raise Mismatch(f"expected the call's span at the collector's https endpoint "
                       f"{suite.collector.endpoint('grpc')}, which accepts only TLS connections with a client "
                       f"certificate; none arrived within {suite.telemetry_timeout:g}s; the exporter must connect "
                       f"with TLS for an https endpoint, verify the collector with the CA in "
                       f"OTEL_EXPORTER_OTLP_CERTIFICATE and present the certificate and key in "
                       f"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY")


@check("TLS-002", "MUST", "the exporter refuses a collector whose certificate OTEL_EXPORTER_OTLP_CERTIFICATE's "
       "CA did not sign", TLS_SPEC, "traces", killed_by=("skip-collector-verification",),
       configuration="collector-impostor",
       fix="Verify the collector's certificate against the CA in OTEL_EXPORTER_OTLP_CERTIFICATE and refuse the "
           "connection when it does not chain to it; never switch verification off in the exporter's TLS settings "
           "(InsecureSkipVerify, a trust-all trust manager).")
def test_tls_002_an_impostor_collector_gets_nothing(suite):
    _needs_collector_tls(suite)
    # The control: this service does export over TLS to a collector it was told to trust.
    suite.watch.wait("traces", lambda: suite.collector.exports("traces"),
                     "the service's traces at the suite's own TLS collector (see TLS-001)")
    view = instance_for(suite, "collector-impostor")
    traced_call(view, "echo", unique("tls-002"))
    received = view.collector.wait_for(lambda: view.collector.exports(), IMPOSTOR_WINDOW_S)
    if received:
        raise Mismatch(f"expected no export to a collector whose certificate another CA signed, got "
                       f"{len(received)} within {IMPOSTOR_WINDOW_S:g}s ({', '.join(sorted({e.signal for e in received}))}); "
                       f"the exporter must verify the collector's certificate against the CA in "
                       f"OTEL_EXPORTER_OTLP_CERTIFICATE (never skip verification), or anyone answering at the "
                       f"collector's address receives the service's telemetry")

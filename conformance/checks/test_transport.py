"""How the target exports: the seed picks OTLP over gRPC for every signal."""
from __future__ import annotations

from otelconform.registry import check
from otelconform.verdicts import NoTelemetry, expect_equal

from ._calls import traced_echo_span


@check("OTLP-001", "SHOULD", "telemetry is exported over OTLP/gRPC",
       "seed §Telemetry Transport Protocol ('Selected: OTLP over gRPC'); OTLP spec §OTLP/gRPC", "traces")
def test_otlp_001_exported_over_grpc(suite):
    traced_echo_span(suite)
    transports = sorted({e.transport for e in suite.collector.exports() if not e.error})
    if not transports:
        raise NoTelemetry("no decodable export arrived")
    expect_equal("OTLP transports the target used", ["grpc"], transports)

"""How the target exports: the seed picks OTLP over gRPC for every signal.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

from otelconform.ids import unique
from otelconform.registry import check
from otelconform.verdicts import expect_equal


@check("OTLP-001", "SHOULD", "telemetry is exported over OTLP/gRPC",
       "architecture §Telemetry Transport Protocol ('Selected: OTLP over gRPC'); OTLP spec §OTLP/gRPC", "traces",
       fix="Export every signal over OTLP/gRPC, as the architecture selects: use the SDK's OTLP/gRPC exporters for "
           "traces, metrics and logs, or set OTEL_EXPORTER_OTLP_PROTOCOL=grpc.")
def test_otlp_001_exported_over_grpc(suite):
    # Any decodable export will do: this check is about the transport, not about correlation.
    suite.client.echo(unique("otlp-001")).require()
    exports = suite.watch.wait("traces", lambda: [e for e in suite.collector.exports() if not e.error],
                               "any decodable export")
    expect_equal("OTLP transports the target used", ["grpc"], sorted({e.transport for e in exports}))

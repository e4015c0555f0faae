"""The seed's USE metrics (process CPU and memory) through opentelemetry-instrumentation-
system-metrics, limited to the two process metrics: its full default set reads dozens of
system-wide counters at every export, which the suite's 50 ms export interval makes costly."""
from __future__ import annotations

from opentelemetry.instrumentation.system_metrics import SystemMetricsInstrumentor

PROCESS_METRICS = {"process.cpu.time": ["user", "system"], "process.memory.usage": None}


def instrument_process_metrics(meter_provider) -> SystemMetricsInstrumentor:
    instrumentor = SystemMetricsInstrumentor(config=PROCESS_METRICS)
    instrumentor.instrument(meter_provider=meter_provider)
    return instrumentor

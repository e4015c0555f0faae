"""Latency cost of instrumentation: the seed asks for under 5 % (Non-Functional Requirements).

Starts a reference service twice, with telemetry exported to the suite's collector and with
``OTEL_SDK_DISABLED=true``, and times sequential unary Echo calls from an uninstrumented
grpcio client on loopback. Rounds alternate between the two so that drift on a shared
machine hits both alike. Reports percentiles per mode and the overhead of the medians.

    .venv/bin/python bench/overhead.py --reference go --calls 2000 --rounds 4

This bench offers go and rust (the check PERF-001 compares every reference). This is a
benchmark, not a test: it asserts nothing and prints numbers to compare over time.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from otelconform.client import TargetClient  # noqa: E402
from otelconform.ids import new_span_id, new_trace_id, traceparent  # noqa: E402
from otelconform_fixtures.collector import FakeCollector  # noqa: E402
from otelconform_fixtures.target import LaunchedTarget  # noqa: E402


def time_calls(address: str, calls: int, warmup: int) -> list[float]:
    client = TargetClient(address, call_timeout=5)
    try:
        for _ in range(warmup):
            client.echo("warmup").require()
        samples = []
        for _ in range(calls):
            metadata = (("traceparent", traceparent(new_trace_id(), new_span_id())),)
            started = time.perf_counter()
            client.echo("bench", metadata=metadata).require()
            samples.append((time.perf_counter() - started) * 1e6)
        return samples
    finally:
        client.close()


def percentile(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100)[int(q) - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", default="go", choices=("go", "rust"))
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--output", default=str(ROOT / "reports" / "bench-overhead.json"))
    args = parser.parse_args()

    command = str(ROOT / "reference_services" / args.reference / "run.sh")
    collector = FakeCollector().start()
    samples: dict[str, list[float]] = {"instrumented": [], "sdk_disabled": []}
    try:
        for round_ in range(args.rounds):
            for mode in (("instrumented", "sdk_disabled") if round_ % 2 == 0 else ("sdk_disabled", "instrumented")):
                env = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint(), "OTEL_SERVICE_NAME": "bench",
                       "OTEL_BSP_SCHEDULE_DELAY": "1000", "OTEL_METRIC_EXPORT_INTERVAL": "5000"}
                if mode == "sdk_disabled":
                    env["OTEL_SDK_DISABLED"] = "true"
                target = LaunchedTarget(command, env).start(ready_timeout=30)
                try:
                    samples[mode] += time_calls(target.address, args.calls, args.warmup)
                finally:
                    target.stop()
    finally:
        collector.stop()

    result = {"reference": args.reference, "calls_per_mode": len(samples["instrumented"]),
              "spans_received": len(collector.spans())}
    for mode, values in samples.items():
        result[mode] = {"p50_us": round(percentile(values, 50), 1), "p90_us": round(percentile(values, 90), 1),
                        "p99_us": round(percentile(values, 99), 1), "mean_us": round(statistics.fmean(values), 1)}
    base, inst = result["sdk_disabled"]["p50_us"], result["instrumented"]["p50_us"]
    result["p50_overhead_percent"] = round((inst - base) / base * 100, 1)
    result["p99_overhead_percent"] = round(
        (result["instrumented"]["p99_us"] - result["sdk_disabled"]["p99_us"]) / result["sdk_disabled"]["p99_us"] * 100, 1)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

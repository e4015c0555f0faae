"""Ingest rate of the suite's fake collector beside a real OpenTelemetry Collector, same load.

The real collector is the suite's own OCB build (``fixtures/real_collector.py``: pinned, from the
Go module proxy, cached outside the repository in ``$XDG_CACHE_HOME/otelconform``, else
``~/.cache/otelconform``), run here as otlp receiver -> nop exporter, nothing else; the first
run builds it (minutes), later runs reuse it. The fake collector runs alone in a
process, set up as a conformance session sets it up (``fake_collector.py``).

Each round floods each collector in turn (the order alternates) with ``flooder.py``: 512-span
OTLP/gRPC exports over 4 connections, as fast as the collector answers, for 20 s. The bench
prints, per collector, the median accepted spans/s, the spans per CPU-second of the collector
process, and the ratio of the medians; then, from one more run each, the collector's RSS after
2 M spans.

    .venv/bin/python bench/ingest.py --rounds 3
    .venv/bin/python bench/ingest.py --rounds 1 --seconds 5 --rss-spans 500000

This is a benchmark, not a test: it asserts nothing and prints numbers to compare over time.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fixtures.real_collector import OCB_VERSION, BuildError, RealCollector, collector_binary  # noqa: E402
from fixtures.target import free_port  # noqa: E402

HERE = Path(__file__).resolve().parent
TICKS = os.sysconf("SC_CLK_TCK")


def build_real_collector() -> Path:
    """The suite's OCB-built collector, built into the cache unless it is there already."""
    try:
        return collector_binary()
    except BuildError as exc:
        sys.exit(f"ingest.py: {exc} (or pass --otelcol)")


class Collector:
    """One collector process on a free port: the fake (stopped by closing its stdin) or the real."""

    def __init__(self, kind: str, otelcol: Path, workdir: Path):
        self.kind, self.port = kind, free_port()
        if kind == "fake":
            self.proc = subprocess.Popen([sys.executable, str(HERE / "fake_collector.py"), f"--port={self.port}"],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            if self.proc.stdout.readline().strip() != "ready":
                sys.exit("ingest.py: the fake collector did not start")
        else:
            config = f"""\
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{self.port}
exporters:
  nop:
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [nop]
"""
            self.real = RealCollector(otelcol, config, [self.port], workdir, f"otelcol-{self.port}")
            self.proc = self.real.start(ready_timeout=60).proc

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime

    def rss_mb(self) -> tuple[float, float]:
        """(current, peak) resident memory in MB."""
        status = dict(line.split(":", 1) for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines())
        return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024

    def stop(self) -> None:
        if self.kind == "fake":
            self.proc.communicate("", timeout=60)
        else:
            self.real.stop(grace=60)


def flood(collector: Collector, args, seconds: float, spans: int | None = None) -> dict:
    command = [sys.executable, str(HERE / "flooder.py"), f"--target=127.0.0.1:{collector.port}",
               f"--batch={args.batch}", f"--connections={args.connections}", f"--seconds={seconds}"]
    if spans is not None:
        command.append(f"--spans={spans}")
    cpu_before = collector.cpu_seconds()
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 180,
                         env={**os.environ, "GRPC_VERBOSITY": "ERROR"})
    if out.returncode != 0:
        sys.exit(f"ingest.py: the flooder failed: {out.stderr[-500:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["collector_cpu_s"] = collector.cpu_seconds() - cpu_before
    result["spans_per_cpu_second"] = result["spans_accepted"] / max(result["collector_cpu_s"], 1e-9)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--seconds", type=float, default=20, help="flood length per collector and round")
    parser.add_argument("--batch", type=int, default=512, help="spans per export (default 512)")
    parser.add_argument("--connections", type=int, default=4, help="concurrent exporters (default 4)")
    parser.add_argument("--rss-spans", type=int, default=2_000_000, help="spans sent before RSS is read")
    parser.add_argument("--otelcol", type=Path, help="a collector binary to use instead of building one")
    parser.add_argument("--output", help="also write the numbers as JSON")
    args = parser.parse_args()
    otelcol = args.otelcol or build_real_collector()
    runs: dict[str, list[dict]] = {"fake": [], "real": []}
    rss: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as workdir:
        for round_ in range(args.rounds):
            for kind in ("fake", "real") if round_ % 2 == 0 else ("real", "fake"):
                collector = Collector(kind, otelcol, Path(workdir))
                try:
                    runs[kind].append(flood(collector, args, args.seconds))
                finally:
                    collector.stop()
        for kind in ("fake", "real"):
            collector = Collector(kind, otelcol, Path(workdir))
            try:
                sent = flood(collector, args, 300, spans=args.rss_spans)
                current, peak = collector.rss_mb()
                rss[kind] = {"spans": sent["spans_accepted"], "rss_mb": current, "peak_rss_mb": peak}
            finally:
                collector.stop()
    medians = {kind: statistics.median(r["spans_per_second"] for r in rs) for kind, rs in runs.items()}
    for kind, rs in runs.items():
        rates = ", ".join(f"{r['spans_per_second']:,}" for r in rs)
        per_cpu = statistics.median(r["spans_per_cpu_second"] for r in rs)
        print(f"{kind:<5} median {medians[kind]:>9,.0f} spans/s (rounds {rates}); "
              f"{per_cpu:,.0f} spans per CPU-second of the collector; after {rss[kind]['spans']:,} spans "
              f"RSS {rss[kind]['rss_mb']:.0f} MB (peak {rss[kind]['peak_rss_mb']:.0f} MB)")
    print(f"fake/real {medians['fake'] / medians['real']:.2f}x ({args.batch}-span exports, "
          f"{args.connections} connections, {args.seconds:g} s per round, real = OCB {OCB_VERSION})")
    if args.output:
        Path(args.output).write_text(json.dumps({"medians": medians, "runs": runs, "rss": rss}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

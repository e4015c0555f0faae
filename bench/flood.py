"""A whole conformance run against a reference, quiet and under a flood of foreign spans.

The flood (``flooder.py``, default 100,000 spans/s in 512-span exports over 4 connections)
goes to the suite's own collector, on a port given with ``--otlp-port``, for as long as the
run lasts; its spans are in traces the suite never started, as a busy service's background
work would be. Rounds alternate quiet and flooded; the bench prints, per mode, the median wall
time and the suite process's peak RSS, the ratio of the medians, the rate the flood reached
and the verdicts that differ between the modes.

    .venv/bin/python bench/flood.py --rounds 3
    .venv/bin/python bench/flood.py --rounds 3 --reference go --spans-per-second 50000
    .venv/bin/python bench/flood.py --rounds 5 --flooder go   # the Go load generator (flooder_go/)
    .venv/bin/python bench/flood.py --rounds 5 --flooder go --flood-to own-process

``--flood-to own-process`` sends the same flood to a fake collector in a process of its own
(``fake_collector.py``) instead of the suite's: the machine carries the same load, but the
suite's process does none of the work, which tells the cost of sharing two cores apart from
the cost the suite's own collector adds.

The Go flooder sends the same exports for about two thirds of the Python one's CPU; on a 2-core
machine the load generator's own cost slows the run it measures, so both are offered.

This is a benchmark, not a test: it asserts nothing and prints numbers to compare over time.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from full_run import REFERENCES, ROOT

sys.path.insert(0, str(ROOT))
from fixtures.real_collector import cache_root  # noqa: E402  (builds kept outside the repository)
from fixtures.target import free_port  # noqa: E402  (the suite's own port choice)

GO_FLOODER = Path(__file__).with_name("flooder_go")


def flooder_command(kind: str) -> list[str]:
    """How to start the load generator; the Go one is built once per source into the cache."""
    if kind == "python":
        return [sys.executable, str(Path(__file__).with_name("flooder.py"))]
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in sorted(GO_FLOODER.iterdir()))).hexdigest()[:10]
    binary = cache_root() / f"flooder_go-{digest}"
    if not binary.exists():
        binary.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["go", "build", "-o", str(binary), "."], cwd=GO_FLOODER, check=True, timeout=600)
    return [str(binary)]

# Runs pytest in this process and reports its peak RSS (ru_maxrss: this process only, not the
# target or the flooder) to the file named first.
PEAK_RSS = ("import resource, sys, pytest; code = pytest.main(sys.argv[2:]); "
            "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)); "
            "sys.exit(code)")


def own_collector(port: int) -> subprocess.Popen:
    """The fake collector alone in a process, listening on ``port`` once this returns."""
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("fake_collector.py")), f"--port={port}"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if proc.stdout.readline().strip() != "ready":
        raise SystemExit("bench/fake_collector.py did not start")
    return proc


def one_run(name: str, workdir: Path, flood: dict | None) -> dict:
    semconv, protocol = REFERENCES[name]
    port = free_port()
    findings, rss_file = workdir / "findings.json", workdir / "rss"
    args = ["-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
            f"--target-cmd={ROOT / 'reference_services' / name / 'run.sh'}", f"--semconv={semconv}",
            f"--otlp-protocol={protocol}", f"--otlp-port={port}", f"--findings={findings}"]
    manifest = ROOT / "reference_services" / name / "conformance.yaml"
    if manifest.exists():
        args.append(f"--manifest={manifest}")
    flooder = sink = None
    if flood is not None:
        flood_port = port
        if flood["to"] == "own-process":
            flood_port = free_port()
            sink = own_collector(flood_port)
        flooder = subprocess.Popen(
            [*flood["command"], f"--target=127.0.0.1:{flood_port}",
             f"--spans-per-second={flood['rate']}", f"--batch={flood['batch']}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "GRPC_VERBOSITY": "ERROR"})  # the suite closing its port is no news
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", PEAK_RSS, str(rss_file), *args], cwd=workdir,
                          capture_output=True, text=True, timeout=600)
    seconds = time.monotonic() - started
    result = {"seconds": seconds, "peak_rss_mb": int(rss_file.read_text()) / 1024 if rss_file.exists() else None,
              "summary": proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-300:],
              "failing": sorted(r["id"] for r in json.loads(findings.read_text())["findings"]
                                if r["verdict"] not in ("PASS", "EXPECTED_FAIL", "SKIPPED"))
              if findings.exists() else ["(no findings written)"]}
    if flooder is not None:
        out, _ = flooder.communicate("", timeout=60)  # closing stdin stops it
        result["flood"] = json.loads(out.strip().splitlines()[-1]) if out.strip() else None
    if sink is not None:
        sink.communicate("", timeout=60)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="quiet+flooded pairs (default 3)")
    parser.add_argument("--reference", default="go", choices=sorted(REFERENCES))
    parser.add_argument("--spans-per-second", type=float, default=100_000)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--flooder", choices=("python", "go"), default="python",
                        help="the load generator: flooder.py (default) or flooder_go/ (less CPU)")
    parser.add_argument("--flood-to", choices=("suite", "own-process"), default="suite",
                        help="the suite's collector (default), or a fake collector in a process of its own")
    parser.add_argument("--output", help="also write the numbers as JSON")
    args = parser.parse_args()
    runs: dict[str, list[dict]] = {"quiet": [], "flooded": []}
    flood = {"rate": args.spans_per_second, "batch": args.batch, "command": flooder_command(args.flooder),
             "to": args.flood_to}
    with tempfile.TemporaryDirectory() as workdir:
        for round_ in range(args.rounds):
            # Each round's two runs are neighbours in time, and which goes first alternates, so
            # the machine's drift (a VM's neighbours) touches both modes alike.
            for mode in (("quiet", "flooded") if round_ % 2 == 0 else ("flooded", "quiet")):
                runs[mode].append(one_run(args.reference, Path(workdir), flood if mode == "flooded" else None))
    medians = {mode: statistics.median(r["seconds"] for r in rs) for mode, rs in runs.items()}
    paired = sorted(f["seconds"] / q["seconds"] for q, f in zip(runs["quiet"], runs["flooded"]))
    for mode, rs in runs.items():
        rss = [r["peak_rss_mb"] for r in rs if r["peak_rss_mb"] is not None]
        times = ", ".join(f"{r['seconds']:.2f}" for r in rs)
        print(f"{mode:<8} median {medians[mode]:.2f} s (runs {times}); "
              f"peak RSS of the suite max {max(rss, default=0):.0f} MB; {rs[-1]['summary']}")
    rates = [r["flood"]["spans_per_second"] for r in runs["flooded"] if r.get("flood")]
    print(f"flooded/quiet {medians['flooded'] / medians['quiet']:.2f}x (ratio of the medians); per round "
          f"median {statistics.median(paired):.2f}x (from {paired[0]:.2f}x to {paired[-1]:.2f}x); the flood reached "
          f"{statistics.median(rates) if rates else 0:,.0f} spans/s accepted (asked {args.spans_per_second:,.0f}, "
          f"{args.flooder} flooder, to {'the suite' if args.flood_to == 'suite' else 'a collector of its own'})")
    quiet_fail = {f for r in runs["quiet"] for f in r["failing"]}
    flood_fail = {f for r in runs["flooded"] for f in r["failing"]}
    print(f"failing only when flooded: {sorted(flood_fail - quiet_fail) or 'none'}; "
          f"failing only when quiet: {sorted(quiet_fail - flood_fail) or 'none'}")
    if args.output:
        Path(args.output).write_text(json.dumps({"medians_s": medians, "paired_ratios": paired, "runs": runs},
                                                indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Wall time of a whole conformance run against each launched reference (budget: 2.5 s median).

Runs ``pytest --target-cmd <reference>`` as a service team would, from an empty directory,
``--runs`` times per reference, and prints the median and spread of the wall time (process
start to exit, so pytest's own start-up counts). The project's venv has the dev tools
installed; hypothesis' pytest plugin is switched off because a user's install of the suite
need not have hypothesis (it costs ~0.7 s of start-up); the generated W3C checks draw their
examples with hypothesis in a helper process, so they run here as they do for a user with
the [generated] extra.

    .venv/bin/python bench/full_run.py --runs 5
    .venv/bin/python bench/full_run.py --runs 5 --reference go --reference rust
    .venv/bin/python bench/full_run.py --runs 9 --reference python --pytest-arg=--check-concurrency=1

This is a benchmark, not a test: it asserts nothing and prints numbers to compare over time.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCES = {  # name: (semconv profile, OTLP protocol)
    "python": ("seed", "grpc"), "python_async": ("seed", "grpc"), "go": ("stable", "grpc"),
    "rust": ("seed", "grpc"), "c": ("seed", "http/json"), "cpp": ("seed", "http/json"),
}


def one_run(name: str, workdir: Path, extra: list[str]) -> tuple[float, str]:
    semconv, protocol = REFERENCES[name]
    # A reference's expected failures travel with it, as a service's conformance.yaml would.
    manifest = ROOT / "reference_services" / name / "conformance.yaml"
    if manifest.exists():
        extra = [f"--manifest={manifest}", *extra]
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
               f"--target-cmd={ROOT / 'reference_services' / name / 'run.sh'}", f"--semconv={semconv}",
               f"--otlp-protocol={protocol}", *extra]
    started = time.monotonic()
    proc = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=300)
    seconds = time.monotonic() - started
    return seconds, proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-200:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reference", action="append", choices=sorted(REFERENCES))
    parser.add_argument("--output", help="also write the numbers as JSON")
    parser.add_argument("--pytest-arg", action="append", default=[], metavar="ARG",
                        help="pass ARG to pytest, e.g. --pytest-arg=--check-concurrency=1")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.reference or list(REFERENCES):
            times, last = [], ""
            for _ in range(args.runs):
                seconds, last = one_run(name, Path(workdir), args.pytest_arg)
                times.append(seconds)
            results[name] = {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
                             "runs": times, "last_summary": last}
            print(f"{name:<13} median {statistics.median(times):.2f} s  (min {min(times):.2f}, "
                  f"max {max(times):.2f}, {args.runs} runs)  {last}", flush=True)
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

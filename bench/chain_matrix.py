"""Wall time of the cross-language chain matrix (budget: 60 s).

Runs ``pytest --chain-scenario pairs`` (every ordered pair of the six references and each
reference as the middle of a triple, 42 chains; ``--with-architecture`` adds the
architecture document's two chains, one of them already a triple)
from an empty directory, ``--runs`` times, and prints the median and spread of the wall time
from process start to exit: building nothing (the references are built beforehand by
.ci/setup.sh), launching each reference once, three calls per chain and the verdicts.

    .venv/bin/python bench/chain_matrix.py --runs 3
    .venv/bin/python bench/chain_matrix.py --runs 3 --with-architecture

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


def one_run(workdir: Path, scenarios: list[str]) -> tuple[float, str]:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
               *(f"--chain-scenario={s}" for s in scenarios)]
    started = time.monotonic()
    proc = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=600)
    seconds = time.monotonic() - started
    return seconds, proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-200:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--with-architecture", action="store_true", help="add the architecture scenario's chains")
    parser.add_argument("--output", help="also write the numbers as JSON")
    args = parser.parse_args()
    scenarios = ["pairs", "architecture"] if args.with_architecture else ["pairs"]
    times, last = [], ""
    with tempfile.TemporaryDirectory() as workdir:
        for _ in range(args.runs):
            seconds, last = one_run(Path(workdir), scenarios)
            times.append(seconds)
            print(f"run {len(times)}: {seconds:.2f} s  {last}", flush=True)
    result = {"scenarios": scenarios, "median_s": statistics.median(times), "min_s": min(times),
              "max_s": max(times), "runs": times, "last_summary": last}
    print(f"{' + '.join(scenarios)}: median {result['median_s']:.2f} s (min {result['min_s']:.2f}, "
          f"max {result['max_s']:.2f}, {args.runs} runs)")
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The collector's decode path against hostile export bodies: the committed seeds every run,
and a short fuzzing run (atheris, bounded in time and memory) from them."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .fuzz.decode_fuzz import one_input

FUZZ = Path(__file__).resolve().parent / "fuzz"
SEEDS = sorted((FUZZ / "corpus").iterdir())
FUZZ_SECONDS = 20


def test_the_seed_corpus_is_current():
    from .fuzz.make_corpus import cases

    assert {p.name: p.read_bytes() for p in SEEDS} == cases(), \
        "tests/fuzz/corpus is stale: run .venv/bin/python tests/fuzz/make_corpus.py"


@pytest.mark.parametrize("seed", SEEDS, ids=[p.name for p in SEEDS])
def test_a_hostile_seed_is_kept_or_refused_cleanly(seed):
    one_input(seed.read_bytes())


def test_a_short_fuzzing_run_finds_nothing(tmp_path):
    pytest.importorskip("atheris")
    scratch = tmp_path / "corpus"
    shutil.copytree(FUZZ / "corpus", scratch)
    proc = subprocess.run([sys.executable, str(FUZZ / "decode_fuzz.py"), f"-max_total_time={FUZZ_SECONDS}",
                           "-rss_limit_mb=2048", "-timeout=10", f"-artifact_prefix={tmp_path}/", str(scratch)],
                          capture_output=True, text=True, timeout=FUZZ_SECONDS + 120)
    assert proc.returncode == 0, f"the fuzzer found an input the collector mishandles:\n{proc.stderr[-3000:]}"
    assert "Done" in proc.stderr

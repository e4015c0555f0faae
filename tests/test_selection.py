"""Choosing checks as pytest users do: -k by check ID, -m by level and signal, --co, ini options."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from otelconform.registry import Level, load_catalog

from .conftest import PYTHON_REFERENCE, run_suite

CATALOG = load_catalog()


def pytest_in(directory: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=directory,
                          capture_output=True, text=True, timeout=120, env=env)


def collected_ids(directory: Path, *args: str) -> set[str]:
    """The check IDs ``pytest --co`` lists in ``directory`` (no target given)."""
    proc = pytest_in(directory, "--co", *args)
    assert proc.returncode in (0, 5), proc.stdout + proc.stderr  # 5: nothing collected
    ids = set()
    for line in proc.stdout.splitlines():
        words = line.split()
        if len(words) >= 3 and words[0] in CATALOG and words[1] in ("MUST", "SHOULD", "MAY"):
            ids.add(words[0])
    return ids


def test_collect_only_lists_every_check_with_level_and_title_without_a_target(tmp_path):
    proc = pytest_in(tmp_path, "--co", "-q")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"conformance checks collected: {len(CATALOG)}" in proc.stdout
    row = next(line for line in proc.stdout.splitlines() if line.split()[:1] == ["PROP-001"])
    assert row.split()[1] == "MUST" and CATALOG["PROP-001"].title in row


def test_k_with_a_check_id_selects_that_check_only(tmp_path):
    assert collected_ids(tmp_path, "-k", "PROP-001") == {"PROP-001"}
    assert collected_ids(tmp_path, "-k", "prop-001 or TS-001") == {"PROP-001", "TS-001"}


def test_k_with_a_family_matches_by_id_not_by_substring(tmp_path):
    res = {i for i in CATALOG if i.startswith("RES-")}
    assert collected_ids(tmp_path, "-k", "RES") == res
    # LOG-003's function name says "resource" and EXP checks live in test_export_failures.py.
    assert "LOG-003" in collected_ids(tmp_path, "-k", "not RES")
    assert collected_ids(tmp_path, "-k", "not RES").isdisjoint(res)


def test_k_with_other_words_keeps_pytest_substring_matching(tmp_path):
    baggage = collected_ids(tmp_path, "-k", "baggage")
    assert {i for i in CATALOG if i.startswith("BAG-")} <= baggage  # test_w3c_baggage.py
    (tmp_path / "test_mine.py").write_text("def test_resource_cleanup():\n    pass\n")
    proc = pytest_in(tmp_path, "--co", "-q", "test_mine.py", "-k", "RES")
    assert "test_mine.py::test_resource_cleanup" in proc.stdout  # a team's own test: plain pytest rules


def test_m_selects_by_level_and_signal(tmp_path):
    must = {i for i, info in CATALOG.items() if info.level is Level.MUST}
    assert collected_ids(tmp_path, "-m", "must") == must
    expected = {i for i, info in CATALOG.items() if info.signal == "traces" and info.level is not Level.SHOULD}
    assert collected_ids(tmp_path, "-m", "traces and not should") == expected
    proc = pytest_in(tmp_path, "--markers")
    assert "@pytest.mark.must:" in proc.stdout and "@pytest.mark.metrics:" in proc.stdout


def test_ini_options_give_the_target_and_profile(tmp_path):
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\n"
        f"conformance_target_cmd = {PYTHON_REFERENCE}\n"
        "conformance_semconv = stable\n"
        "conformance_telemetry_timeout = 7\n")
    run = run_suite(tmp_path, "-k", "PROP-001")
    assert run.verdicts() == {"PROP-001": "PASS"}, run.output
    assert run.meta is not None and run.meta["profile"] == "semconv-1.44", run.meta


def test_a_bad_ini_value_is_a_usage_error_naming_the_key(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\nconformance_semconv = newest\n")
    proc = pytest_in(tmp_path, "--co", "-q")
    assert proc.returncode == 4
    assert "conformance_semconv = 'newest': expected one of semconv-1.38, semconv-1.44" in proc.stderr


def test_the_command_line_wins_over_the_ini_file(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\nconformance_semconv = newest\n")
    proc = pytest_in(tmp_path, "--co", "-q", "--semconv=stable")
    assert proc.returncode == 0, proc.stderr

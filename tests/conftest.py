"""Helpers for the project's own tests: run the suite as a user would, in a subprocess."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from otelconform.registry import load_catalog
from otelconform_fixtures.collector import FakeCollector

ROOT = Path(__file__).resolve().parents[1]
PYTHON_REFERENCE = f"{ROOT}/reference_services/python/run.sh"
PYTHON_MANIFEST = ROOT / "reference_services/python/conformance.yaml"
BAD_TARGET = f"{sys.executable} {ROOT}/tests/bad_target/server.py"
OTEL_TARGET = f"{sys.executable} {ROOT}/tests/bad_target/otel_target.py"
# What a run against one target judges: the chain checks run only in chain mode (--chain).
TARGET_CHECKS = frozenset(i for i, info in load_catalog().items() if not info.chain and not info.backends)


@dataclass
class SuiteRun:
    returncode: int
    findings: list[dict]
    output: str
    seconds: float
    meta: dict | None = None  # the findings file's session description

    def verdicts(self) -> dict[str, str]:
        """Verdict per check instance, e.g. {'PROP-001': 'PASS', 'STAT-001[NOT_FOUND]': 'MISMATCH'}."""
        out = {}
        for row in self.findings:
            param = row["nodeid"].partition("[")[2].rstrip("]")
            out[f"{row['id']}[{param}]" if param else row["id"]] = row["verdict"]
        return out

    def failing_ids(self) -> set[str]:
        """Checks with an instance that neither passed, nor was skipped (a Level 2 vector at
        Level 1), nor failed as the target's manifest expects."""
        return {row["id"] for row in self.findings if row["verdict"] not in ("PASS", "SKIPPED", "EXPECTED_FAIL")}


def run_suite(tmp_path: Path, *args: str, env: dict | None = None, timeout: float = 600) -> SuiteRun:
    """Run ``pytest <args>`` against a target, from an empty directory, as a service team would."""
    import time

    findings = tmp_path / "findings.json"
    # The Python reference ships an expected-failure manifest, as a service's repository would;
    # the hand-instrumented target is a grpcio service too and shares grpcio's limitation.
    if any(PYTHON_REFERENCE in a or OTEL_TARGET in a for a in args) \
            and not any(a.startswith("--manifest") for a in args) \
            and not (tmp_path / "conformance.yaml").exists():
        shutil.copy(PYTHON_MANIFEST, tmp_path / "conformance.yaml")
    full_env = {**os.environ, "PYTHON": sys.executable, **(env or {})}
    full_env.pop("PYTEST_ADDOPTS", None)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                           f"--findings={findings}", *args],
                          cwd=tmp_path, env=full_env, capture_output=True, text=True, timeout=timeout)
    document = json.loads(findings.read_text()) if findings.exists() else {"findings": []}
    return SuiteRun(proc.returncode, document["findings"], proc.stdout + proc.stderr,
                    time.monotonic() - started, document.get("target"))


@pytest.fixture
def suite_runner(tmp_path):
    return lambda *args, **kw: run_suite(tmp_path, *args, **kw)


@pytest.fixture
def collector():
    """A fake collector serving OTLP/gRPC and OTLP/HTTP on ephemeral ports."""
    c = FakeCollector().start()
    c.start_http()
    yield c
    c.stop()

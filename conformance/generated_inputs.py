"""The examples of the generated W3C checks, drawn once per session in a helper process.

Drawing them costs CPU (hypothesis' engine and its import, half a second) that would
otherwise compete for the suite process's one interpreter lock with every check running at
once; a helper process draws them on another core instead, started as soon as pytest is
configured, while it collects and the target starts. A fixed seed (derandomised) makes the
examples the same on every run.

    python -m otelconform.generated_inputs    # prints the examples as JSON

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading

EXAMPLES = 12  # per generated check: each one is a call to the target
MISSING = "the generated W3C checks need hypothesis: pip install 'pytest-otelconform[generated]'"


def draw_all() -> dict[str, list] | None:
    """Every strategy's examples, or None when hypothesis is not installed."""
    try:
        from hypothesis import HealthCheck, Phase, given, settings
    except ImportError:
        return None
    from otelconform.w3c_strategies import strategies

    drawn = {}
    for name, strategy in strategies().items():
        cases: list = []

        @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                  phases=(Phase.explicit, Phase.generate), suppress_health_check=list(HealthCheck))
        @given(strategy)
        def collect(case):
            cases.append(case)

        collect()
        drawn[name] = cases
    return drawn


class GeneratedInputs:
    def __init__(self, process: subprocess.Popen):
        self._process = process
        self._drawn: dict | None = None
        self._error: str | None = None
        self._lock = threading.Lock()  # the three generated checks ask at once

    @classmethod
    def start(cls) -> "GeneratedInputs":
        return cls(subprocess.Popen([sys.executable, "-m", "otelconform.generated_inputs"], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))

    def _result(self) -> dict | None:
        with self._lock:
            return self._read()

    def _read(self) -> dict | None:
        if self._drawn is None and self._error is None:
            try:
                out, err = self._process.communicate(timeout=120)
                if self._process.returncode != 0:
                    raise RuntimeError(err.strip()[-2000:] or f"exit status {self._process.returncode}")
                self._drawn = json.loads(out) or {}
            except (subprocess.TimeoutExpired, RuntimeError, ValueError) as exc:
                self._process.kill()
                self._error = f"drawing the generated W3C inputs failed: {exc}"
        if self._error is not None:
            raise RuntimeError(self._error)
        return self._drawn

    def cases(self, name: str) -> list:
        drawn = self._result()
        if not drawn:
            import pytest  # not at the top: the helper process imports this module too, and fast

            pytest.skip(MISSING)
        return drawn[name]

    def close(self) -> None:
        with self._lock:
            if self._process.poll() is None:
                self._process.kill()
                self._process.communicate()


if __name__ == "__main__":
    json.dump(draw_all(), sys.stdout)

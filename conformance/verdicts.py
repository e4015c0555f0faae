"""How a check fails, so the report can say why.

A check raises one of these instead of a bare ``assert`` so that "the target exported
nothing" (NO_TELEMETRY), "it exported something wrong" (MISMATCH) and "it did not answer
the call" (TARGET_ERROR) stay distinct in every report.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

from typing import Any


class CheckFailure(AssertionError):
    verdict = "MISMATCH"


class Mismatch(CheckFailure):
    verdict = "MISMATCH"


class NoTelemetry(CheckFailure):
    verdict = "NO_TELEMETRY"


class TargetUnresponsive(CheckFailure):
    verdict = "TARGET_ERROR"


def expect_equal(what: str, expected: Any, actual: Any, fix: str = "") -> None:
    """MISMATCH saying expected and actual, and ``fix`` (how to fix it) when given."""
    if expected != actual:
        raise Mismatch(f"{what}: expected {expected!r}, got {actual!r}" + (f"; {fix}" if fix else ""))


def expect(condition: bool, what: str, expected: Any, actual: Any) -> None:
    if not condition:
        raise Mismatch(f"{what}: expected {expected}, got {actual!r}")


def wait_until(condition, timeout: float, interval: float = 0.05):
    """Poll ``condition`` until truthy or ``timeout``, for state no event announces (a file
    growing); telemetry waits use the collector's condition variable instead."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result or time.monotonic() >= deadline:
            return result
        time.sleep(interval)


# What a passing check measured (an estimate, a count), by the running check's key: the
# report shows it as the PASS row's message, so a measurement is read, not only judged.
MEASURED: dict[str, str] = {}


def measured(text: str) -> None:
    from .client import RUNNING

    key = getattr(RUNNING, "check", None)
    if key is not None:
        MEASURED[key] = text

"""One finding per check, gathered in one place — in a serial run and across pytest-xdist workers.

A check's finding travels on its test report (``report.conformance_row``), which xdist
serialises from worker to controller like any report attribute; each worker's session
description (target, profile, transports, diagnoses) travels in ``workeroutput``. Every
report format renders from the ``Results`` of the process that owns the terminal.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import datetime as dt

import pytest

from .registry import CheckInfo, Level

ROW = "conformance_row"
WORKER_KEY = "otelconform"


def gates(fail_on: str, info: CheckInfo) -> bool:
    return fail_on != "none" and info.level.rank <= Level(fail_on.upper()).rank


def apply_manifest(report, info: CheckInfo, param: str, verdict: str, message: str, manifest,
                   fail_on: str) -> tuple[str, str]:
    """The final verdict after the expected-failure manifest and --fail-on; adjusts the report."""
    entry = manifest.lookup(info.id, param) if manifest and verdict != "SKIPPED" else None
    if entry is not None and entry.expired(dt.date.today()):
        verdict, message = "EXPIRED", (f"manifest entry {entry.id} expired on {entry.expires} "
                                       f"({entry.issue}); the check says: {verdict} {message}".strip())
        report.outcome, report.longrepr = "failed", message
    elif entry is not None and verdict == "PASS":
        verdict = "UNEXPECTED_PASS"
        message = f"{info.id} passes now: remove {entry.id} from {manifest.path}"
        report.outcome, report.longrepr = "failed", message
    elif entry is not None:
        message = f"{verdict}: {message} (expected: {entry.reason}; {entry.issue}; until {entry.expires})"
        verdict = "EXPECTED_FAIL"
        report.outcome, report.wasxfail = "skipped", f"in {manifest.path}: {entry.reason}"
    elif report.failed and not gates(fail_on, info):
        report.outcome = "skipped"
        report.wasxfail = f"{info.level.value} check, not gating (--fail-on={fail_on})"
    return verdict, message


def make_row(info: CheckInfo, nodeid: str, verdict: str, message: str, context: dict) -> dict:
    return {"id": info.id, "level": info.level.value, "verdict": verdict, "signal": info.signal,
            "title": info.title, "spec": info.spec, "message": message, "nodeid": nodeid,
            "fix": info.fix, "context": context}


class Results:
    def __init__(self):
        self.rows: dict[str, dict] = {}
        self.sessions: list[dict] = []  # one description per process that ran a session

    def add(self, row: dict) -> None:
        self.rows[row["nodeid"]] = row

    def add_report(self, report) -> None:
        row = getattr(report, ROW, None)
        if row is not None:
            self.add(row)

    def add_session(self, meta: dict | None) -> None:
        if meta:
            self.sessions.append(meta)

    # Registered as a plugin: on the controller under xdist these see every worker's reports.
    def pytest_runtest_logreport(self, report) -> None:
        self.add_report(report)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error) -> None:
        self.add_session((getattr(node, "workeroutput", None) or {}).get(WORKER_KEY))

    def meta(self) -> dict | None:
        """The session description; several workers' merged (each launched its own target)."""
        if not self.sessions:
            return None
        first = self.sessions[0]
        merged = dict(first)
        merged["transports"] = sorted({t for m in self.sessions for t in m.get("transports", ())})
        profiles = sorted({m["profile"] for m in self.sessions})
        if len(profiles) > 1:
            merged["profile"] = "/".join(profiles)
            merged["profile_reason"] = "; ".join(sorted({m["profile_reason"] for m in self.sessions}))
        merged["diagnoses"] = {k: v for m in self.sessions for k, v in (m.get("diagnoses") or {}).items()}
        merged["ignored_fields"] = sorted({f for m in self.sessions for f in m.get("ignored_fields", ())})
        endings = sorted({m["ending"] for m in self.sessions if m.get("ending")})
        merged["ending"] = "; ".join(endings) or None
        errors = sorted({m["session_error"] for m in self.sessions if m.get("session_error")})
        merged["session_error"] = "; ".join(errors) or None
        return merged

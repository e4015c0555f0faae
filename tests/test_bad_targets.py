"""A target that hangs, crashes, exports nothing or exports garbage gets precise verdicts, fast.

(Attach mode against a hand-started service is covered per reference in test_references.py.)
"""
from __future__ import annotations

from .conftest import BAD_TARGET


# The configuration checks would start twenty more instances of the bad target, whose load
# on two cores can push a main-instance call past the 1 s call timeout; these tests judge the
# main instance's verdicts only.
MAIN_INSTANCE_CHECKS = "-k=not env_ and not exp_ and not perf_"


def _launch(suite_runner, mode: str, *args: str, env_extra: dict | None = None):
    return suite_runner(f"--target-cmd={BAD_TARGET}", "--telemetry-timeout=1", "--call-timeout=1",
                        "--ready-timeout=5", *args, env={"BAD_TARGET_MODE": mode, **(env_extra or {})})


def test_silent_target_gets_no_telemetry_verdicts(suite_runner):
    run = _launch(suite_runner, "silent", MAIN_INSTANCE_CHECKS)
    verdicts = run.verdicts()
    assert run.returncode == 1
    # Calls behave, telemetry is missing: gRPC-level checks pass, the rest say NO_TELEMETRY.
    assert all(v == "PASS" for k, v in verdicts.items() if k.startswith("STAT-001")), verdicts
    # LOG-006 judges the records LOG-005 waits for: with none, it has nothing to judge.
    trace_checks = [k for k in verdicts if k.startswith(("SPAN-", "RES-", "LOG-", "MET-"))
                    and not k.startswith("LOG-006")]
    assert trace_checks and all(verdicts[k] == "NO_TELEMETRY" for k in trace_checks), \
        {k: verdicts[k] for k in trace_checks if verdicts[k] != "NO_TELEMETRY"}
    assert all(v == "SKIPPED" for k, v in verdicts.items() if k.startswith("LOG-006")), verdicts
    assert verdicts["PROP-003"] == "NO_TELEMETRY"  # the barrier span never arrives


def test_garbage_exports_are_reported_as_undecodable(suite_runner):
    run = _launch(suite_runner, "garbage", MAIN_INSTANCE_CHECKS)
    verdicts = run.verdicts()
    assert verdicts["SPAN-001"] == "NO_TELEMETRY"
    message = next(r["message"] for r in run.findings if r["id"] == "SPAN-001")
    assert "undecodable" in message, message


def test_hanging_target_is_one_session_error_after_one_call_deadline(suite_runner):
    run = _launch(suite_runner, "hang")
    # The probe before the checks gets no answer: one error for the session, no check waits.
    assert run.returncode == 6  # the target could not be checked, not a conformance failure
    assert set(run.verdicts().values()) == {"TARGET_ERROR"}, run.verdicts()
    assert "Echo ended DEADLINE_EXCEEDED" in run.meta["session_error"]
    assert run.output.count("ERROR at setup") == 1, run.output  # shown once, then the run stops


def test_crashing_target_is_a_target_error_for_every_check(suite_runner):
    run = _launch(suite_runner, "crash")
    assert run.returncode == 6
    assert set(run.verdicts().values()) == {"TARGET_ERROR"}, run.verdicts()
    assert "crashing on purpose" in run.meta["session_error"]


def test_never_ready_target_is_a_target_error(suite_runner):
    run = _launch(suite_runner, "never-ready")
    assert run.returncode == 6
    assert set(run.verdicts().values()) == {"TARGET_ERROR"}, run.verdicts()
    assert "NOT_SERVING" in run.meta["session_error"]



def test_launch_logs_are_removed_when_the_run_passes_and_kept_and_named_when_it_fails(suite_runner, tmp_path):
    from .conftest import PYTHON_REFERENCE

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    passed = suite_runner(f"--target-cmd={PYTHON_REFERENCE}", "-k", "PROP-001", env={"TMPDIR": str(scratch)})
    assert passed.returncode == 0, passed.output[-2000:]
    assert not list(scratch.glob("conformance-target-*")) and "logs of the launched" not in passed.output
    failed = _launch(suite_runner, "crash", env_extra={"TMPDIR": str(scratch)})
    kept = list(scratch.glob("conformance-target-*"))
    assert failed.returncode == 6 and kept, failed.output[-2000:]
    assert f"logs of the launched service(s), kept because the run failed (stdout.log, stderr.log): {kept[0]}" \
        in failed.output
    assert "crashing on purpose" in (kept[0] / "stderr.log").read_text()

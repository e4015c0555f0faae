"""Chain mode: references stitched into one trace, and what a chain the suite cannot run says."""
from __future__ import annotations

import pytest

from .conftest import BAD_TARGET, run_suite


def test_chains_are_given_as_references_or_commands(tmp_path):
    run = run_suite(tmp_path, "--chain=go,rust,c", "--chain=c")
    assert run.returncode == 0, run.output[-4000:]
    assert {row["nodeid"].partition("[")[2].rstrip("]") for row in run.findings} == {"go-rust-c", "c"}
    assert "per service: c semconv-1.38; go semconv-1.44; rust semconv-1.38" in run.output


@pytest.mark.parametrize("args, says", [
    (["--chain=go,nosuch"], "'nosuch' is neither a reference service"),
    (["--chain=go,,rust"], "an empty hop in --chain"),
    (["--chain=go", "--target=127.0.0.1:1"], "launch the services of their chains themselves"),
    (["--chain-scenario=nosuch"], "invalid choice"),
])
def test_a_chain_the_suite_cannot_run_is_a_usage_error(tmp_path, args, says):
    run = run_suite(tmp_path, *args, timeout=60)
    assert run.returncode == 4, run.output[-2000:]
    assert says in run.output


def test_a_service_without_chain_is_named(tmp_path):
    # The hand-written bad target implements the contract's older methods only.
    run = run_suite(tmp_path, f"--chain=go,{BAD_TARGET}", timeout=120)
    assert run.returncode == 1
    messages = [row["message"] for row in run.findings if row["verdict"] == "TARGET_ERROR"]
    assert messages and all("answers conformance.v1.Conformance/Chain UNIMPLEMENTED" in m for m in messages), \
        run.output[-3000:]

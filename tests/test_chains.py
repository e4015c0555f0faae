"""Chain mode: references stitched into one trace, and what a chain the suite cannot run says."""
from __future__ import annotations

import pytest

from .conftest import BAD_TARGET, PYTHON_REFERENCE, run_suite


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


@pytest.mark.parametrize("mutant", ["no-outgoing-inject", "drop-incoming-context"])
def test_a_mutant_in_one_language_fails_exactly_the_chains_through_it(tmp_path, mutant):
    broken = f"CONFORMANCE_MUTANT={mutant} {PYTHON_REFERENCE}"
    run = run_suite(tmp_path, f"--chain={broken},go", f"--chain=go,{broken}", f"--chain=rust,{broken},go",
                    "--chain=go,rust", "--chain=rust,go")
    assert run.returncode == 1, run.output[-4000:]
    failing = {row["nodeid"].partition("[")[2].rstrip("]") for row in run.findings
               if row["verdict"] not in ("PASS", "SKIPPED")}
    assert failing == {"python-go", "go-python", "rust-python-go"}, run.output[-4000:]
    first = {row["nodeid"].partition("[")[2].rstrip("]"): row["message"] for row in run.findings
             if row["id"] == "CHAIN-001" and row["verdict"] == "MISMATCH"}
    assert set(first) == failing, first
    if mutant == "no-outgoing-inject":
        assert "hop 1 (python, service.name chain-python) does not inject" in first["python-go"], first
        assert "hop 2 (python, service.name chain-python) does not inject" in first["rust-python-go"], first
    else:
        assert "hop 1 (python, service.name chain-python) does not continue the suite's trace" in first["python-go"]
        assert "so hop 2 (python, service.name chain-python) did not extract" in first["go-python"], first
    # One fault, one finding: the checks that read the broken links are skipped, naming CHAIN-001.
    skipped = [row for row in run.findings if row["nodeid"].endswith("[python-go]") and row["verdict"] == "SKIPPED"]
    assert skipped and all("CHAIN-001" in row["message"] for row in skipped)

"""Chain mode: references stitched into one trace, and what a chain the suite cannot run says."""
from __future__ import annotations

import shutil

import pytest

from otelconform import chain_matrix

from .conftest import BAD_TARGET, PYTHON_REFERENCE, ROOT, run_suite

# What each mutant of the Python reference fails when it is the middle of go → python → go.
# The chain-* mutants break only the reference's Chain method (reference_services/python/
# chain_mutants.py); the others are the reference's own mutants, seen through a chain.
CHAIN_EXPECTED_FAILURES = {
    "no-outgoing-inject": {"CHAIN-001"},
    "drop-incoming-context": {"CHAIN-001"},
    "chain-orphan-span": {"CHAIN-002"},
    "chain-drops-tracestate": {"CHAIN-003"},
    "chain-drops-baggage": {"CHAIN-004"},
    "chain-forces-sampled": {"CHAIN-005"},
    "error-status-ok": {"CHAIN-006"},
    "client-outcome-ok": {"CHAIN-006"},
    "ignore-service-name": {"CHAIN-007"},
    "log-without-context": {"CHAIN-008"},
    "wrong-rpc-system": {"CHAIN-009"},
}


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


def test_each_chain_check_fails_against_the_mutant_that_breaks_it(tmp_path):
    # One run: a clean go → python → go, then one chain per mutant, each mutant its own service
    # (labelled python2, python3, … in the order given), so each chain's verdicts are its own.
    mutants = sorted(CHAIN_EXPECTED_FAILURES)
    commands = [PYTHON_REFERENCE] + [f"CONFORMANCE_MUTANT={m} {PYTHON_REFERENCE}" for m in mutants]
    run = run_suite(tmp_path, *(f"--chain=go,{command},go" for command in commands), timeout=300)
    failing: dict[str, set[str]] = {}
    for row in run.findings:
        chain = row["nodeid"].partition("[")[2].rstrip("]")
        failing.setdefault(chain, set())
        if row["verdict"] not in ("PASS", "SKIPPED"):
            failing[chain].add(row["id"])
    expected = {"go-python-go": set()} | {f"go-python{n}-go": CHAIN_EXPECTED_FAILURES[m]
                                          for n, m in enumerate(mutants, start=2)}
    assert failing == expected, ({m: failing.get(f"go-python{n}-go") for n, m in enumerate(mutants, start=2)},
                                 run.output[-4000:])


def test_every_pair_and_the_architecture_scenario_pass_and_the_matrix_document_is_current(tmp_path):
    run = run_suite(tmp_path, "--chain-scenario=pairs", "--chain-scenario=architecture", timeout=300)
    findings = tmp_path / "findings.json"
    assert findings.exists(), run.output[-4000:]
    # Kept where the document's command reads it, so a stale document is one command away.
    (ROOT / "reports").mkdir(exist_ok=True)
    shutil.copy(findings, ROOT / "reports" / "chain-matrix.json")
    chains = chain_matrix.verdicts_from(str(findings))
    # 36 pairs, 6 triples, and the architecture's go → python → c (go → rust → c is a triple too).
    assert len(chains) == 36 + 6 + 1, sorted(chains)
    failing = {c: chain_matrix.cell(checks) for c, checks in chains.items() if chain_matrix.cell(checks) != "PASS"}
    assert not failing, (failing, run.output[-4000:])
    assert run.returncode == 0, run.output[-4000:]
    assert chain_matrix.render(chains) == (ROOT / chain_matrix.DOCUMENT).read_text(), \
        f"{chain_matrix.DOCUMENT} is stale: run `otelconform chain-matrix reports/chain-matrix.json > " \
        f"{chain_matrix.DOCUMENT}`"

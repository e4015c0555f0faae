"""Zero-contract mode end to end: a service judged through the calls a user names with --call.

The Python reference stands in for a service without the contract here: the suite is given
no knowledge of the contract beyond a descriptor set, and calls its methods only as a user
would name any method (the Go greeter example, tests/test_greeter_example.py, has no contract
at all).
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import PYTHON_REFERENCE, ROOT, run_suite

ECHO = 'conformance.v1.Conformance/Echo={"payload": "hi"}'
NOT_FOUND = 'conformance.v1.Conformance/Fail={"code": 5, "message": "no such thing"} -> NOT_FOUND'
APPLICABLE = {"PROP-001", "PROP-002", "PROP-003", "PROP-004", "PROP-005", "PROP-006", "PROP-007", "PROP-008", "SPAN-001", "SPAN-002",
              "SPAN-003", "SPAN-004", "RES-001", "RES-002", "MET-001", "MET-002", "STAT-002", "STAT-003",
              "RES-003", "SPAN-005", "SPAN-006", "MET-005", "MET-006", "MET-008"}


@pytest.fixture(scope="module")
def descriptor_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("descriptors") / "conformance.pb"
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{ROOT / 'conformance' / 'proto'}",
                    "--include_imports", f"--descriptor_set_out={out}", "conformance_v1.proto"], check=True)
    return out


def zero_contract_run(tmp_path, descriptor_set, port: int, *extra: str, env=None):
    relay = ('conformance.v1.Conformance/Relay={"downstream": "127.0.0.1:%d", "payload": "x"}' % port)
    return run_suite(tmp_path, f"--target-cmd={PYTHON_REFERENCE}", "--semconv=seed",
                     f"--descriptor-set={descriptor_set}", f"--call={ECHO}", f"--call={NOT_FOUND}",
                     f"--outgoing-call={relay}", f"--downstream-port={port}", *extra, env=env)


def test_applicable_checks_pass_and_the_rest_are_skipped_saying_what_would_enable_them(tmp_path, descriptor_set):
    from otelconform_fixtures.target import free_port

    run = zero_contract_run(tmp_path, descriptor_set, free_port())
    assert run.returncode == 0, run.output[-3000:]
    ran = {row["id"] for row in run.findings if row["verdict"] != "SKIPPED"}
    assert ran == APPLICABLE, run.output[-3000:]
    verdicts = run.verdicts()
    assert all(verdicts[k] == "PASS" for k in verdicts if k.split("[")[0] in APPLICABLE
               and k not in ("STAT-002[NOT_FOUND]", "STAT-003[NOT_FOUND]", "STAT-002[OK]", "STAT-003[OK]")
               and not k.startswith("STAT")), verdicts
    assert verdicts["STAT-002[NOT_FOUND]"] == verdicts["STAT-003[NOT_FOUND]"] == "PASS"
    assert verdicts["STAT-003[INTERNAL]"] == "SKIPPED"  # no --call ends INTERNAL
    reasons = {row["id"]: row["message"] for row in run.findings if row["verdict"] == "SKIPPED"}
    assert "contract method Fail" in reasons["STAT-001"]
    assert "contract methods" in reasons["LOG-002"] and "Log" in reasons["LOG-002"]
    assert "no log record carrying the trace id" in reasons["LOG-001"]  # Echo writes none
    assert "zero-contract mode, 26 of" in run.output


def test_a_service_that_drops_outgoing_context_fails_the_outgoing_checks(tmp_path, descriptor_set):
    from otelconform_fixtures.target import free_port

    run = zero_contract_run(tmp_path, descriptor_set, free_port(), "-k", "PROP",
                            env={"CONFORMANCE_MUTANT": "no-outgoing-inject"})
    verdicts = run.verdicts()
    assert {k for k, v in verdicts.items() if v == "MISMATCH"} == {"PROP-004", "PROP-005", "PROP-006", "PROP-007",
                                                                   "PROP-008"}, verdicts
    assert verdicts["PROP-001"] == "PASS"


def test_a_call_that_does_not_parse_is_a_usage_error(tmp_path, descriptor_set):
    run = run_suite(tmp_path, f"--target-cmd={PYTHON_REFERENCE}", f"--descriptor-set={descriptor_set}",
                    "--call=conformance.v1.Conformance/Echo={payload: hi}", "-k", "PROP-001")
    assert run.returncode == 4, run.output[-2000:]
    assert "expected a JSON object after '='" in run.output


def test_an_unknown_method_names_what_the_service_offers(tmp_path, descriptor_set):
    run = run_suite(tmp_path, f"--target-cmd={PYTHON_REFERENCE}", f"--descriptor-set={descriptor_set}",
                    "--call=conformance.v1.Conformance/Hello={}", "-k", "PROP-001")
    assert run.verdicts() == {"PROP-001": "TARGET_ERROR"} and run.returncode == 6, run.output[-2000:]
    assert "has no method Hello; its methods: Echo, Fail" in run.output, run.output[-2000:]

"""Targets over TLS and mTLS, and OTLP over mTLS to the suite's collector.

Two references (Python and Go) run the whole catalog with both; a suite speaking plaintext to
a TLS target (or TLS to a plaintext one) is told so in one session error; attach mode takes
the CA and client certificate as files.
"""
from __future__ import annotations

import os
import signal

import pytest

from otelconform_fixtures.target import LaunchedTarget, free_port
from otelconform_fixtures.tls import RunCertificates

from .conftest import PYTHON_REFERENCE, ROOT
from .test_references import GO_GAPS

GO_REFERENCE = str(ROOT / "reference_services" / "go" / "run.sh")
UNDER_MTLS = [("python", PYTHON_REFERENCE, "seed", frozenset()), ("go", GO_REFERENCE, "stable", GO_GAPS)]


def _failing(run) -> set[str]:
    return {k for k, v in run.verdicts().items() if v not in ("PASS", "SKIPPED", "EXPECTED_FAIL")}


@pytest.mark.parametrize("name,command,semconv,known", UNDER_MTLS, ids=[r[0] for r in UNDER_MTLS])
def test_a_reference_passes_the_catalog_under_mtls(suite_runner, name, command, semconv, known):
    run = suite_runner(f"--target-cmd={command}", f"--semconv={semconv}", "--target-tls", "--collector-tls")
    assert run.returncode == 0 and _failing(run) == known, f"{_failing(run)}\n{run.output[-3000:]}"
    assert {run.verdicts()[c] for c in ("TLS-001", "TLS-002")} == {"PASS"}


def test_an_exporter_that_skips_verification_fails_tls_002(suite_runner):
    run = suite_runner(f"--target-cmd={GO_REFERENCE}", "--semconv=stable", "--collector-tls", "-k=tls_",
                       env={"CONFORMANCE_MUTANT": "skip-collector-verification"})
    assert run.verdicts() == {"TLS-001": "PASS", "TLS-002": "MISMATCH"}, run.output[-3000:]


@pytest.fixture
def tls_target():
    """The Python reference serving mTLS with the run's certificates, exporting to a port of
    the test's choosing (where the suite's collector will listen)."""
    certs, otlp_port = RunCertificates(), free_port()
    target = LaunchedTarget(PYTHON_REFERENCE, {
        "CONFORMANCE_TLS_CERT": str(certs.server_cert_file), "CONFORMANCE_TLS_KEY": str(certs.server_key_file),
        "CONFORMANCE_TLS_CLIENT_CA": str(certs.ca_file), "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp_port}",
        "OTEL_SERVICE_NAME": "tls-target", "OTEL_BSP_SCHEDULE_DELAY": "50", "OTEL_BLRP_SCHEDULE_DELAY": "50"},
        tls=certs.client())
    target.start(30)
    yield target, certs, otlp_port
    os.killpg(target.process.pid, signal.SIGKILL)
    target.process.wait(timeout=15)


def test_a_plaintext_suite_is_told_the_target_speaks_tls(suite_runner, tls_target):
    target, _, otlp_port = tls_target
    run = suite_runner(f"--target={target.address}", f"--otlp-port={otlp_port}", f"--otlp-http-port={free_port()}",
                       "--ready-timeout=10", "-k=res_001")
    assert run.returncode != 0
    assert "answers in TLS" in run.output and "--target-tls" in run.output, run.output[-2000:]
    assert run.seconds < 9, "told at the first refused connection, not after the ready timeout"


def test_attach_mode_takes_the_ca_and_client_certificate_as_files(suite_runner, tls_target):
    target, certs, otlp_port = tls_target
    run = suite_runner(f"--target={target.address}", f"--otlp-port={otlp_port}", f"--otlp-http-port={free_port()}",
                       "--target-tls", f"--target-ca={certs.ca_file}", f"--target-cert={certs.client_cert_file}",
                       f"--target-key={certs.client_key_file}", "-k=prop_001 or res_001 or tc_001")
    failing = _failing(run)
    assert run.returncode == 0 and not failing and "PASS" in run.verdicts().values(), run.output[-3000:]


def test_a_tls_suite_is_told_the_target_speaks_plaintext(suite_runner, tmp_path):
    certs = RunCertificates()
    run = suite_runner(f"--target-cmd={PYTHON_REFERENCE}", "--target-tls", f"--target-ca={certs.ca_file}",
                       "--ready-timeout=10", "-k=res_001")
    assert run.returncode != 0
    assert "does not answer in TLS" in run.output, run.output[-2000:]


def test_tls_options_without_target_tls_are_a_usage_error(suite_runner, tmp_path):
    run = suite_runner(f"--target-cmd={PYTHON_REFERENCE}", f"--target-ca={tmp_path / 'ca.pem'}")
    assert run.returncode == 4 and "need --target-tls" in run.output, run.output[-1000:]

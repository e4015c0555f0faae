"""Credentials stay out of captures and reports: the exporter's authorization header, metadata
the target forwards, values the target copied into its telemetry."""
from __future__ import annotations

from otelconform.redaction import REDACTED, Redactor

from .conftest import PYTHON_REFERENCE

TOKEN = "s3cr3t-exporter-token-1f2e3d"
SELECTION = "-k=res_001 or prop_001 or sec_001"


def test_sensitive_metadata_is_redacted_and_remembered():
    redactor = Redactor()
    shown = redactor.metadata([("authorization", f"Bearer {TOKEN}"), ("x-request-id", "abc123def")])
    assert shown == [("authorization", REDACTED), ("x-request-id", "abc123def")]
    # The credential alone, copied anywhere, is struck too.
    assert redactor.text(f"span attribute user.token={TOKEN}!") == f"span attribute user.token={REDACTED}!"
    assert redactor.scrub({"a": [f"x {TOKEN}"], TOKEN: 1}) == {"a": [f"x {REDACTED}"], REDACTED: 1}


def test_cookie_values_and_extra_names():
    redactor = Redactor(extra_names=["X-Tenant-Secret"])
    redactor.learn([("cookie", "session=abcdef123456; theme=dark"), ("x-tenant-secret", "tenant-key-998877")])
    assert redactor.text("abcdef123456 tenant-key-998877 dark") == f"{REDACTED} {REDACTED} dark"


def test_exporter_headers_from_the_environment():
    redactor = Redactor()
    redactor.learn_environment({"OTEL_EXPORTER_OTLP_HEADERS": f"x-note=hello,Authorization=Bearer%20{TOKEN}"})
    assert redactor.text(f"sent Bearer {TOKEN}") == f"sent {REDACTED}"
    assert redactor.text("hello") == "hello"


def test_keep_secrets_turns_it_off():
    redactor = Redactor(enabled=False)
    assert redactor.metadata([("authorization", TOKEN)]) == [("authorization", TOKEN)]
    assert redactor.text(TOKEN) == TOKEN


def test_short_values_are_not_struck_from_text():
    redactor = Redactor()
    redactor.learn([("authorization", "on")])
    assert redactor.text("the option is on") == "the option is on"


def _files(tmp_path):
    return {p.name: p.read_text(errors="replace") for p in tmp_path.iterdir()
            if p.suffix in (".json", ".xml", ".md")}


def test_no_written_file_holds_the_exporters_credential(suite_runner, tmp_path):
    run = suite_runner(f"--target-cmd={PYTHON_REFERENCE}", SELECTION, "--capture-run=capture.json",
                       "--junitxml=junit.xml", "--markdown=report.md",
                       env={"OTEL_EXPORTER_OTLP_HEADERS": f"authorization=Bearer {TOKEN}",
                            "CONFORMANCE_MUTANT": "metadata-as-attributes"})
    assert run.verdicts()["SEC-001"] == "MISMATCH", run.output[-2000:]
    files = _files(tmp_path)
    assert {"capture.json", "junit.xml", "report.md", "findings.json"} <= set(files)
    for name, text in files.items():
        assert TOKEN not in text, f"{name} holds the exporter's credential"
        assert "cred-bearer" not in text or name == "capture.json", f"{name} holds the check's credential"
    assert TOKEN not in run.output
    # The exporter did send it: the capture shows the header, redacted.
    assert '["authorization", "[redacted]"]' in files["capture.json"]


def test_keep_secrets_writes_them_as_received(suite_runner, tmp_path):
    suite_runner(f"--target-cmd={PYTHON_REFERENCE}", "-k=res_001", "--capture-run=capture.json", "--keep-secrets",
                 env={"OTEL_EXPORTER_OTLP_HEADERS": f"authorization=Bearer {TOKEN}"})
    assert f'["authorization", "Bearer {TOKEN}"]' in (tmp_path / "capture.json").read_text()

"""The suite as a CI gate: manifests, severities, profiles, team rules and reports."""
from __future__ import annotations

import datetime as dt
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from otelconform.cli import catalog_markdown, main as cli_main
from otelconform.registry import load_catalog

REGISTRY = load_catalog()

from .conftest import PYTHON_REFERENCE, ROOT, TARGET_CHECKS

FAST = ("--telemetry-timeout=3",)


def _manifest(path: Path, entries: list[dict]) -> Path:
    path.write_text("expected_failures:\n" + "".join(
        "  - " + "\n    ".join(f"{k}: {v}" for k, v in e.items()) + "\n" for e in entries))
    return path


def _entry(check_id: str, expires: dt.date) -> dict:
    return {"id": check_id, "reason": "known gap", "issue": "https://example.test/issues/1",
            "expires": expires.isoformat()}


NEXT_YEAR = dt.date.today() + dt.timedelta(days=365)


def test_expected_failure_is_reported_and_does_not_fail_the_run(suite_runner, tmp_path):
    manifest = _manifest(tmp_path / "m.yaml", [_entry("RES-001", NEXT_YEAR)])
    run = suite_runner(f"--target-cmd={PYTHON_REFERENCE}", f"--manifest={manifest}", "-k", "res_001",
                       *FAST, env={"CONFORMANCE_MUTANT": "no-service-version"})
    assert run.verdicts() == {"RES-001": "EXPECTED_FAIL"}, run.output[-2000:]
    assert run.returncode == 0
    assert "service.version" in run.findings[0]["message"]


def test_manifest_is_found_in_the_working_directory(suite_runner, tmp_path):
    _manifest(tmp_path / "conformance.yaml", [_entry("RES-001", NEXT_YEAR)])
    run = suite_runner(f"--target-cmd={PYTHON_REFERENCE}", "-k", "res_001", *FAST,
                       env={"CONFORMANCE_MUTANT": "no-service-version"})
    assert run.verdicts() == {"RES-001": "EXPECTED_FAIL"}, run.output[-2000:]


def test_listed_check_that_passes_fails_the_run(suite_runner, tmp_path):
    manifest = _manifest(tmp_path / "m.yaml", [_entry("RES-001", NEXT_YEAR)])
    run = suite_runner(f"--target-cmd={PYTHON_REFERENCE}", f"--manifest={manifest}", "-k", "res_001", *FAST)
    assert run.verdicts() == {"RES-001": "UNEXPECTED_PASS"}
    assert run.returncode == 1
    assert "remove RES-001 from" in run.findings[0]["message"]


def test_expired_entry_fails_the_run(suite_runner, tmp_path):
    manifest = _manifest(tmp_path / "m.yaml", [_entry("RES-001", dt.date.today() - dt.timedelta(days=1))])
    run = suite_runner(f"--target-cmd={PYTHON_REFERENCE}", f"--manifest={manifest}", "-k", "res_001",
                       *FAST, env={"CONFORMANCE_MUTANT": "no-service-version"})
    assert run.verdicts() == {"RES-001": "EXPIRED"}
    assert run.returncode == 1 and "expired on" in run.findings[0]["message"]


def test_parametrized_entry_applies_to_that_instance_only(suite_runner, tmp_path):
    manifest = _manifest(tmp_path / "m.yaml", [_entry("STAT-003[INTERNAL]", NEXT_YEAR)])
    run = suite_runner(f"--target-cmd={PYTHON_REFERENCE}", f"--manifest={manifest}", "-k", "stat_003",
                       *FAST, env={"CONFORMANCE_MUTANT": "error-status-ok"})
    verdicts = run.verdicts()
    assert verdicts["STAT-003[INTERNAL]"] == "EXPECTED_FAIL"
    assert verdicts["STAT-003[NOT_FOUND]"] == "MISMATCH" and run.returncode == 1


def test_unknown_id_is_a_usage_error(suite_runner, tmp_path):
    manifest = _manifest(tmp_path / "m.yaml", [_entry("NOPE-999", NEXT_YEAR)])
    run = suite_runner(f"--target-cmd={PYTHON_REFERENCE}", f"--manifest={manifest}")
    assert run.returncode == 4 and "unknown check ID(s) NOPE-999" in run.output


def test_malformed_manifest_says_what_is_wrong(suite_runner, tmp_path):
    manifest = tmp_path / "m.yaml"
    manifest.write_text("expected_failures:\n  - id: RES-001\n    reason: ''\n    expires: someday\n")
    run = suite_runner(f"--target-cmd={PYTHON_REFERENCE}", f"--manifest={manifest}")
    assert run.returncode == 4
    assert "'issue' is a required property" in run.output and "is not a valid manifest" in run.output
    (tmp_path / "bad.yaml").write_text("expected_failures: [unclosed\n")
    run = suite_runner(f"--target-cmd={PYTHON_REFERENCE}", f"--manifest={tmp_path / 'bad.yaml'}")
    assert run.returncode == 4 and "cannot read the manifest" in run.output


def test_stock_service_seed_and_stable_verdicts_differ_and_auto_picks_seed(suite_runner):
    env = {"CONFORMANCE_MUTANT": "stock"}
    # The profile is the main instance's business; instances of other configurations add nothing here.
    main_only = "-k=not env_ and not exp_ and not perf_"
    seed = suite_runner(f"--target-cmd={PYTHON_REFERENCE}", "--semconv=seed", *FAST, main_only, env=env)
    stable = suite_runner(f"--target-cmd={PYTHON_REFERENCE}", "--semconv=stable", *FAST, main_only, env=env)
    auto = suite_runner(f"--target-cmd={PYTHON_REFERENCE}", "--semconv=auto", *FAST, main_only, env=env)
    # No RPC metrics at all (MET-001; the checks of their values skip), the client histogram
    # missing too (MET-007), and calls past their deadline or cancelled recorded as OK.
    assert seed.failing_ids() == {"SPAN-002", "SPAN-004", "MET-001", "MET-007", "DEAD-001", "DEAD-003"}
    # Stock instrumentation speaks the legacy names, so the current conventions fail too.
    assert stable.failing_ids() == seed.failing_ids() | {"SPAN-003", "STAT-002", "STAT-004"}
    assert auto.verdicts() == seed.verdicts()
    assert "semconv profile 'semconv-1.38' (schema_url" in auto.output


def _team_rule(tmp_path: Path, level: str, fix: str | None = None) -> Path:
    rule = {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "x-conformance": {"id": "TEAM-001", "level": level, "applies_to": "resource",
                              "title": "resource names its deployment environment"} | ({"fix": fix} if fix else {}),
            "type": "object", "required": ["deployment.environment"]}
    path = tmp_path / "team.schema.json"
    path.write_text(json.dumps(rule))
    return path


def test_team_schema_is_a_check_of_its_own(suite_runner, tmp_path):
    rule = _team_rule(tmp_path, "MUST")
    failing = suite_runner(f"--target-cmd={PYTHON_REFERENCE}", f"--schema={rule}", "-k", "team", *FAST)
    assert failing.verdicts() == {"TEAM-001[TEAM-001]": "MISMATCH"} and failing.returncode == 1
    assert "deployment.environment" in failing.findings[0]["message"]
    passing = suite_runner(f"--target-cmd={PYTHON_REFERENCE}", f"--schema={rule}", "-k", "team", *FAST,
                           env={"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=ci"})
    assert passing.verdicts() == {"TEAM-001[TEAM-001]": "PASS"} and passing.returncode == 0


def test_a_failing_team_rule_says_how_to_fix_it_with_the_rules_fix_text(suite_runner, tmp_path):
    fix = "Set OTEL_RESOURCE_ATTRIBUTES=deployment.environment=<env> in the service's deployment."
    rule = _team_rule(tmp_path, "MUST", fix)
    run = suite_runner(f"--target-cmd={PYTHON_REFERENCE}", f"--schema={rule}", "-k", "team", *FAST,
                       f"--markdown={tmp_path / 'summary.md'}")
    (row,) = run.findings
    assert (row["verdict"], row["fix"]) == ("MISMATCH", fix), row
    assert f"how to fix: {fix}" in run.output, run.output[-2000:]
    assert f"**how to fix:** {fix}" in (tmp_path / "summary.md").read_text()
    # Without a fix text of its own, the failure points at the rule's file.
    plain = suite_runner(f"--target-cmd={PYTHON_REFERENCE}", f"--schema={_team_rule(tmp_path, 'MUST')}",
                         "-k", "team", *FAST)
    assert "the team rule team.schema.json requires" in plain.findings[0]["fix"], plain.findings[0]


def test_fail_on_decides_which_levels_fail_the_run(suite_runner, tmp_path):
    rule = _team_rule(tmp_path, "SHOULD")
    lenient = suite_runner(f"--target-cmd={PYTHON_REFERENCE}", f"--schema={rule}", "-k", "team", *FAST)
    strict = suite_runner(f"--target-cmd={PYTHON_REFERENCE}", f"--schema={rule}", "-k", "team", *FAST,
                          "--fail-on=should")
    assert lenient.verdicts() == strict.verdicts() == {"TEAM-001[TEAM-001]": "MISMATCH"}
    assert (lenient.returncode, strict.returncode) == (0, 1)


def test_invalid_team_schema_is_a_usage_error(suite_runner, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"x-conformance": {"id": "lower-1", "level": "MUST", "applies_to": "resource"}}))
    run = suite_runner(f"--target-cmd={PYTHON_REFERENCE}", f"--schema={bad}")
    assert run.returncode == 4 and "x-conformance" in run.output


def test_junit_allure_markdown_and_matrix(suite_runner, tmp_path):
    junit, allure_dir, md = tmp_path / "junit.xml", tmp_path / "allure", tmp_path / "summary.md"
    run = suite_runner(f"--target-cmd={PYTHON_REFERENCE}", "-k", "prop_005 or stat_001", *FAST,
                       f"--junitxml={junit}", f"--alluredir={allure_dir}", f"--markdown={md}")
    assert run.returncode == 0, run.output[-2000:]
    cases = ET.parse(junit).getroot().iter("testcase")
    props = [{p.get("name"): p.get("value") for p in case.iter("property")} for case in cases]
    assert {p["check_id"] for p in props} == {"PROP-005", "STAT-001"}
    assert all(p["verdict"] == "PASS" and p["level"] == "MUST" for p in props)
    results = [json.loads(p.read_text()) for p in allure_dir.glob("*-result.json")]
    prop = next(r for r in results if "prop_005" in r["fullName"])
    names = {a["name"] for a in prop["attachments"]}
    assert {"spans.json", "span tree", "metadata sent and received"} <= names
    assert prop["name"] == "PROP-005 outgoing parent id is the target's exported client span"
    labels = {(label["name"], label["value"]) for label in prop["labels"]}
    assert {("severity", "critical"), ("feature", "traces"), ("tag", "MUST"), ("check_id", "PROP-005")} <= labels
    assert {"name": "target", "value": repr(f"launched: {PYTHON_REFERENCE}")} in prop["parameters"]  # allure quotes
    # The spec references with a known address are links (PROP-005 cites W3C Trace Context).
    assert any(link["url"].startswith("https://www.w3.org/TR/trace-context") for link in prop["links"]), prop
    environment = (allure_dir / "environment.properties").read_text()
    assert f"target=launched: {PYTHON_REFERENCE}" in environment and "profile=semconv-1.38" in environment
    spans_file = next(a for a in prop["attachments"] if a["name"] == "spans.json")
    exported = json.loads((allure_dir / spans_file["source"]).read_text())
    assert exported and all(len(s["span"]["traceId"]) == 32 and int(s["span"]["traceId"], 16) for s in exported)
    tree = next(a for a in prop["attachments"] if a["name"] == "span tree")
    assert "SERVER conformance.v1.Conformance/Relay" in (allure_dir / tree["source"]).read_text()
    assert "| `STAT-001[NOT_FOUND]` | MUST | ✅ PASS |" in md.read_text()
    findings = tmp_path / "findings.json"
    other = tmp_path / "other.json"
    other.write_text(findings.read_text())
    html_out = tmp_path / "matrix.html"
    assert cli_main(["matrix", str(findings), str(other), "-o", str(html_out)]) == 0
    page = html_out.read_text()
    assert "<th>PROP-005</th>" in page and page.count(">PASS<") == 2 * len(run.findings)


def test_checks_a_session_error_stopped_are_one_line_by_id_not_a_row_each(suite_runner, tmp_path):
    md = tmp_path / "summary.md"
    run = suite_runner("--target-cmd=exit 3", "--ready-timeout=5", f"--markdown={md}")
    assert run.returncode == 6 and set(run.verdicts().values()) == {"TARGET_ERROR"}, run.output[-2000:]
    instances = sum(row["id"] == "STAT-001" for row in run.findings)
    assert {row["id"] for row in run.findings} == TARGET_CHECKS and instances > 1
    why = "the target cannot be checked (see the session error): "
    heading = f"not run ({len(run.findings)}, TARGET_ERROR), {why}"
    lines = run.output.splitlines()
    collapsed = [line for line in lines if line.startswith("not run (")]
    assert len(collapsed) == 1 and collapsed[0].startswith(heading), run.output[-3000:]
    collapsed = collapsed[0]
    named = collapsed.removeprefix(heading).split(", ")
    assert sorted(n.split(" ×")[0] for n in named) == sorted(TARGET_CHECKS), named  # each ID once
    assert f"STAT-001 ×{instances}" in named
    # No row per check: no "not passed" section, and no line that starts with a check's ID.
    rows = [line for line in lines if line.startswith("not passed")
            or (starts := ROW_START.match(line)) and starts[1] in TARGET_CHECKS]
    assert not rows, rows[:5]
    summary = md.read_text()
    assert summary.count(f"### Not run ({len(run.findings)}, TARGET_ERROR)\n\n{why}{', '.join(named)}\n") == 1, \
        summary[:3000]
    assert "| `" not in summary and "### Not passed" not in summary, summary[:3000]
    must = sum(row["level"] == "MUST" for row in run.findings)
    assert f"MUST: 0 passed, 0 failed, {must} not run" in run.output  # totals do not call them failures
    assert "it exited with status 3" in run.output and "(nothing on stderr)" in run.output


ROW_START = re.compile(r"\s*([A-Z]+-\d{3})\b")


def test_a_descriptor_set_that_is_not_there_is_a_usage_error_before_the_service_starts(suite_runner, tmp_path):
    started = tmp_path / "started"
    run = suite_runner(f"--target-cmd=touch {started}; sleep 30", "--call=demo.v1.Greeter/SayHello={}",
                       f"--descriptor-set={tmp_path / 'missing.binpb'}")
    assert run.returncode == 4, run.output[-2000:]
    assert "missing.binpb: no such file" in run.output and "--descriptor_set_out=FILE" in run.output
    assert not started.exists()


def test_two_targets_in_one_allure_folder_are_two_results_not_retries(suite_runner, tmp_path):
    allure_dir = tmp_path / "allure"
    go = ROOT / "reference_services" / "go" / "run.sh"
    for target in (PYTHON_REFERENCE, str(go)):
        run = suite_runner(f"--target-cmd={target}", "-k", "PROP-001", *FAST, f"--alluredir={allure_dir}")
        assert run.returncode == 0, run.output[-2000:]
    results = [json.loads(p.read_text()) for p in allure_dir.glob("*-result.json")]
    prop = [r for r in results if "prop_001" in r["fullName"]]
    assert len(prop) == 2 and len({r["historyId"] for r in prop}) == 2, [r["historyId"] for r in prop]


def test_every_check_says_how_to_fix_it():
    assert not [i for i, info in REGISTRY.items() if not info.fix.strip()]


def test_catalog_document_is_current():
    assert (ROOT / "docs" / "checks.md").read_text() == catalog_markdown(), \
        "docs/checks.md is stale: run otelconform catalog > docs/checks.md"


def _by_check(run) -> dict[str, str]:
    """Verdicts keyed by test name, wherever the checks were collected from."""
    return {row["nodeid"].split("::", 1)[1]: row["verdict"] for row in run.findings}


def test_replay_reproduces_live_verdicts_offline(suite_runner, tmp_path):
    capture = tmp_path / "run.json.gz"
    # Two checks on instances of their own stand for all of them (a capture runs its checks one
    # by one, and under this mutant each of theirs waits out the telemetry timeout).
    selection = "-k=(not env_ and not exp_ and not perf_) or env_001 or env_040"
    live = suite_runner(f"--target-cmd={PYTHON_REFERENCE}", f"--capture-run={capture}", *FAST, selection,
                        env={"CONFORMANCE_MUTANT": "drop-incoming-context"})
    assert capture.exists() and live.returncode == 1
    replayed = suite_runner(f"--replay={capture}", *FAST, selection)
    # Checks on instances of their own are not in a capture: skipped, saying so.
    own_instance = {r["nodeid"].split("::", 1)[1] for r in live.findings if REGISTRY[r["id"]].configuration}
    assert own_instance and all(_by_check(replayed)[name] == "SKIPPED" for name in own_instance), \
        {name: _by_check(replayed)[name] for name in own_instance}
    assert ({k: v for k, v in _by_check(replayed).items() if k not in own_instance}
            == {k: v for k, v in _by_check(live).items() if k not in own_instance})
    assert replayed.returncode == live.returncode
    assert "replayed from" in replayed.output


def test_replay_of_a_missing_or_foreign_file_is_a_usage_error(suite_runner, tmp_path):
    (tmp_path / "x.json").write_text('{"format": 99}')
    assert suite_runner(f"--replay={tmp_path / 'missing.json'}").returncode == 4
    run = suite_runner(f"--replay={tmp_path / 'x.json'}")
    assert run.returncode == 4 and "capture format 99" in run.output

"""The GitHub Action's steps, executed here as a runner would: a fresh virtualenv installs the
wheel, the run step judges a reference, and the files the upload step takes are there.

No GitHub is needed: each ``run:`` step of action.yml runs in bash with its ``env:`` filled
from the inputs, and GitHub's variables point into a temporary folder. The ``uses:`` steps are
GitHub's own actions (setup-python, upload-artifact) and are checked for, not run.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile

import pytest
import yaml

from .conftest import ROOT

GO_REFERENCE = ROOT / "reference_services" / "go" / "run.sh"
EXPRESSION = re.compile(r"\$\{\{\s*([\w.-]+)\s*\}\}")


def action() -> dict:
    return yaml.safe_load((ROOT / "action.yml").read_text())


def fill(text: str, inputs: dict[str, str]) -> str:
    """Substitute the ``${{ inputs.x }}`` and ``${{ github.action_path }}`` expressions."""
    def value(match):
        name = match.group(1)
        if name == "github.action_path":
            return str(ROOT)
        if name.startswith("inputs."):
            return inputs[name.removeprefix("inputs.")]
        raise AssertionError(f"action.yml uses an expression this test does not provide: {name}")
    return EXPRESSION.sub(value, text)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel, with pip's verbose build log beside it (build.log)."""
    out = tmp_path_factory.mktemp("wheel")
    # setuptools builds in the source tree unless told otherwise: its build/ and egg-info there
    # would be shared with whoever else builds, and build/lib keeps files that have since been
    # removed or renamed, which the next wheel would still contain.
    (out / "setup.cfg").write_text(f"[build]\nbuild_base = {out / 'build'}\n[egg_info]\negg_base = {out}\n")
    # Without PYTHONDONTWRITEBYTECODE, as on a runner: with it, distutils warns that
    # byte-compiling is disabled, which says nothing about the packaging.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} \
        | {"DIST_EXTRA_CONFIG": str(out / "setup.cfg")}
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation",
                           "-w", str(out), str(ROOT)], env=env, capture_output=True, text=True, timeout=300)
    (out / "build.log").write_text(proc.stdout + proc.stderr)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    (built,) = out.glob("pytest_otelconform-*.whl")
    return built


# A setuptools warning as pip -v relays it, indented under the build: a Python warning
# ("build_py.py:215: BuildBackendWarning: Package 'x' is absent from the `packages`
# configuration", "SetuptoolsDeprecationWarning: ...") or a distutils "warning: ..." line.
# pip's own notices (WARNING:, DEPRECATION:, [notice]) start the line.
SETUPTOOLS_WARNING = re.compile(r" +(?:\S+:\d+: \w*Warning\b|warning: )")


def test_the_wheel_builds_without_a_setuptools_warning(wheel):
    log = (wheel.parent / "build.log").read_text()
    assert "running build_py" in log  # the build's own output is there to be read
    said = [line.strip() for line in log.splitlines() if SETUPTOOLS_WARNING.match(line)]
    assert not said, "the wheel's build warns:\n" + "\n".join(said)


def run_steps(tmp_path, given: dict[str, str], files: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
    """The steps, in a workspace holding ``files`` (name -> text) as the service's checkout would."""
    spec = action()
    inputs = {name: str(d.get("default", "")) for name, d in spec["inputs"].items()} | given
    workspace, runner_temp = tmp_path / "workspace", tmp_path / "runner"
    workspace.mkdir()
    runner_temp.mkdir()
    for name, text in (files or {}).items():
        (workspace / name).write_text(text)
    github = {"RUNNER_TEMP": str(runner_temp), "GITHUB_OUTPUT": str(tmp_path / "output"),
              "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
    base = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTEST_ADDOPTS")} | github
    code = 0
    for step in spec["runs"]["steps"]:
        if "uses" in step:
            continue
        env = base | {k: fill(str(v), inputs) for k, v in step.get("env", {}).items()}
        proc = subprocess.run(["bash", "-e", "-c", fill(step["run"], inputs)], cwd=workspace, env=env,
                              capture_output=True, text=True, timeout=600)
        code = proc.returncode
        if code != 0 and step.get("id") != "run":
            raise AssertionError(f"step {step.get('name')!r} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    outputs = dict(line.split("=", 1) for line in (tmp_path / "output").read_text().splitlines() if "=" in line)
    return code, outputs


def test_the_wheel_holds_every_schema_of_the_source_tree(wheel):
    # The profiles' folders are package data, not packages: a glob left out loses them quietly.
    with zipfile.ZipFile(wheel) as built:
        held = {name for name in built.namelist() if name.startswith("otelconform_schemas/") and name.endswith(".json")}
    tree = {f"otelconform_schemas/{path.relative_to(ROOT / 'schemas').as_posix()}"
            for path in (ROOT / "schemas").rglob("*.json")}
    assert "otelconform_schemas/semconv-1.38+1.44/profile.json" in tree and held == tree, sorted(held ^ tree)


def test_the_action_uses_githubs_setup_and_upload_steps():
    uses = [s["uses"] for s in action()["runs"]["steps"] if "uses" in s]
    assert uses[0].startswith("actions/setup-python@") and uses[-1].startswith("actions/upload-artifact@")
    upload = action()["runs"]["steps"][-1]
    assert upload["if"] == "always()" and upload["with"]["path"] == "${{ inputs.results-dir }}"


def test_a_fresh_virtualenv_installs_the_wheel_and_the_action_judges_a_service(tmp_path, wheel):
    code, outputs = run_steps(tmp_path, {"target-command": str(GO_REFERENCE), "profile": "semconv-1.44",
                                         "suite": str(wheel), "extra-args": "-k 'PROP-001 or RES-001'"})
    results = tmp_path / "workspace" / "conformance-results"
    assert code == 0 and outputs["exit-code"] == "0", (results / "summary.md").read_text()[-2000:]
    findings = json.loads((results / "findings.json").read_text())["findings"]
    assert {r["id"]: r["verdict"] for r in findings} == {"PROP-001": "PASS", "RES-001": "PASS"}
    for name in ("junit.xml", "report.html", "summary.md"):
        assert (results / name).stat().st_size > 0, name
    assert "MUST: 2 passed, 0 failed" in (tmp_path / "summary.md").read_text()  # the job summary
    installed = subprocess.run([str(tmp_path / "runner" / "otelconform-venv" / "bin" / "python"), "-m", "pip",
                                "show", "pytest-otelconform"], capture_output=True, text=True)
    assert "Name: pytest-otelconform" in installed.stdout


def test_the_repositorys_pytest_configuration_gives_target_and_profile_and_n_gets_xdist(tmp_path, wheel):
    pyproject = ("[tool.pytest.ini_options]\n"
                 f"conformance_target_cmd = \"{GO_REFERENCE}\"\n"
                 "conformance_semconv = \"semconv-1.44\"\n")
    code, outputs = run_steps(tmp_path, {"suite": str(wheel), "extra-args": "-n 2 -k 'PROP-001 or RES-001'"},
                              files={"pyproject.toml": pyproject})
    results = tmp_path / "workspace" / "conformance-results"
    summary = (tmp_path / "summary.md").read_text()
    assert code == 0 and outputs["exit-code"] == "0", summary[-2000:]
    findings = json.loads((results / "findings.json").read_text())["findings"]
    assert {r["id"]: r["verdict"] for r in findings} == {"PROP-001": "PASS", "RES-001": "PASS"}
    assert "semconv profile 'semconv-1.44' (chosen with conformance_semconv in pyproject.toml)" in summary, summary
    venv_python = tmp_path / "runner" / "otelconform-venv" / "bin" / "python"
    xdist = subprocess.run([str(venv_python), "-m", "pip", "show", "pytest-xdist"], capture_output=True, text=True)
    assert "Name: pytest-xdist" in xdist.stdout, xdist.stderr


def test_the_job_fails_with_the_suites_status_when_the_service_cannot_be_checked(tmp_path, wheel):
    code, outputs = run_steps(tmp_path, {"target-command": "exit 3", "suite": str(wheel),
                                         "extra-args": "-k PROP-001 --ready-timeout=5"})
    assert code == 6 and outputs["exit-code"] == "6"
    assert "session error" in (tmp_path / "summary.md").read_text()

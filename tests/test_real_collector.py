"""--via-collector: a real OpenTelemetry Collector (OCB, pinned, built once into the cache by
``.ci/setup.sh``) between the target and the suite's collector changes no verdict; --backends:
Jaeger and Prometheus behind it, queried by the BACK-* checks, change none either, and those pass.

The Go reference runs the whole catalog twice, direct and through the collector running the
seed's config adapted; every check instance must get the same verdict. The checks of the
session's main instance judge what the real collector forwarded (the report counts the exports
that came through it: all of them); the checks that start an instance of their own (ENV-*,
EXP-*, OTLP-001, SEC-001 and the like: a ``configuration`` in the registry) judge the target's
exporter itself, so their instances keep exporting to their own fake collectors, as documented
in ``conformance/pipeline.py``; their verdicts are compared all the same.

A missing or failing build is a failure here, never a skip.
"""
from __future__ import annotations

import re

import pytest
import yaml

from otelconform.pipeline import Ports, adapted_config, describe_validation, seed_validation
from otelconform.registry import load_catalog
from otelconform_fixtures.backends import jaeger_binary
from otelconform_fixtures.real_collector import collector_binary, validate

from .conftest import PYTHON_REFERENCE, ROOT, run_suite

GO_ARGS = (f"--target-cmd={ROOT / 'reference_services' / 'go' / 'run.sh'}", "--semconv=semconv-1.44")
BACKEND_CHECKS = {i for i, info in load_catalog().items() if info.backends}
# The Python reference's mutants that fail backend checks (with --backends only: the mutant
# matrix of tests/test_reference_python.py runs without it, and counts these in).
BACKENDS_EXPECTED_FAILURES = {"drop-incoming-context": {"BACK-001"}, "metric-renamed": {"BACK-002", "BACK-003"}}


def test_seed_config_fails_validate_and_the_adapted_one_passes():
    binary = collector_binary()
    said = describe_validation(seed_validation(binary))
    assert said.startswith("the architecture document's collector config fails the collector's validate"), said
    assert 'unknown type: "jaeger"' in said and 'unknown type: "elasticsearch"' in said, said
    adapted = adapted_config(4317, Ports(), jaeger_otlp=14317)
    assert validate(binary, adapted).ok, validate(binary, adapted).output
    config = yaml.safe_load(adapted)
    assert "jaeger" not in config["exporters"] and "elasticsearch" not in config["exporters"]
    endpoints = re.findall(r"endpoint: (\S+)", adapted)
    assert endpoints and all(e.startswith("127.0.0.1:") for e in endpoints), endpoints
    assert config["service"]["pipelines"]["traces"]["processors"] == ["memory_limiter", "batch"]


@pytest.fixture(scope="module")
def direct(tmp_path_factory):
    """The Go reference's whole catalog, straight to the suite's collector."""
    collector_binary()  # built by .ci/setup.sh; a cold build here would count against the run's timeout
    return run_suite(tmp_path_factory.mktemp("direct"), *GO_ARGS)


def _same_verdicts(direct, other, label: str) -> None:
    assert direct.findings and other.findings, other.output[-3000:]
    pipeline = other.meta["pipeline"]
    forwarded, total = map(int, re.match(r"(\d+) of (\d+) exports", pipeline).groups())
    assert total > 0 and forwarded == total, pipeline
    assert 'unknown type: "jaeger"' in pipeline, pipeline
    a = direct.verdicts()
    b = {k: v for k, v in other.verdicts().items() if not k.startswith("BACK-")}
    assert a.keys() == b.keys(), sorted(a.keys() ^ b.keys())
    differ = {key: (a[key], b[key]) for key in a if a[key] != b[key]}
    assert not differ, f"direct vs {label}: {differ}\n{other.output[-3000:]}"


def test_every_verdict_is_the_same_through_a_real_collector(direct, tmp_path):
    via = run_suite(tmp_path, *GO_ARGS, "--via-collector")
    _same_verdicts(direct, via, "via the real collector")
    catalog = load_catalog()
    through = {row["id"] for row in via.findings if not catalog[row["id"]].configuration}
    assert {"PROP-001", "SPAN-001", "MET-001", "LOG-001", "SHUT-001"} <= through
    assert not any(row["id"].startswith("BACK-") for row in via.findings), "backend checks need --backends"


def test_backend_checks_pass_and_change_no_other_verdict(direct, tmp_path):
    jaeger_binary()  # built by .ci/setup.sh, as the collector
    run = run_suite(tmp_path, *GO_ARGS, "--backends")
    _same_verdicts(direct, run, "with --backends")
    backends = {row["id"]: row for row in run.findings if row["id"].startswith("BACK-")}
    assert set(backends) == BACKEND_CHECKS, run.output[-3000:]
    assert all(row["verdict"] == "PASS" for row in backends.values()), backends
    assert "rpc_server_call_duration_seconds_count" in backends["BACK-002"]["message"]
    red = backends["BACK-003"]["message"]
    assert "grpc_server_handled_total{grpc_code!=\"OK\"} / grpc_server_handled_total' → no data" in red, red
    assert "parse error" in red, red


@pytest.mark.parametrize("mutant", sorted(BACKENDS_EXPECTED_FAILURES))
def test_python_mutant_fails_exactly_its_backend_checks(tmp_path, mutant):
    run = run_suite(tmp_path, f"--target-cmd={PYTHON_REFERENCE}", "--backends", "-k", "BACK", "--telemetry-timeout=3",
                    env={"CONFORMANCE_MUTANT": mutant})
    assert {row["id"] for row in run.findings} == BACKEND_CHECKS, run.output[-3000:]
    assert run.failing_ids() == BACKENDS_EXPECTED_FAILURES[mutant], run.output[-3000:]

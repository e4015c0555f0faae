"""--via-collector: a real OpenTelemetry Collector (OCB, pinned, built once into the cache by
``.ci/setup.sh``) between the target and the suite's collector changes no verdict.

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

import yaml

from otelconform.pipeline import Ports, adapted_config, describe_validation, seed_validation
from otelconform.registry import load_catalog
from otelconform_fixtures.real_collector import collector_binary, validate

from .conftest import ROOT, run_suite

GO = str(ROOT / "reference_services" / "go" / "run.sh")


def test_seed_config_fails_validate_and_the_adapted_one_passes():
    binary = collector_binary()
    said = describe_validation(seed_validation(binary))
    assert said.startswith("the seed's collector config fails the collector's validate"), said
    assert 'unknown type: "jaeger"' in said and 'unknown type: "elasticsearch"' in said, said
    adapted = adapted_config(4317, Ports(), jaeger_otlp=14317)
    assert validate(binary, adapted).ok, validate(binary, adapted).output
    config = yaml.safe_load(adapted)
    assert "jaeger" not in config["exporters"] and "elasticsearch" not in config["exporters"]
    endpoints = re.findall(r"endpoint: (\S+)", adapted)
    assert endpoints and all(e.startswith("127.0.0.1:") for e in endpoints), endpoints
    assert config["service"]["pipelines"]["traces"]["processors"] == ["memory_limiter", "batch"]


def test_every_verdict_is_the_same_through_a_real_collector(tmp_path):
    collector_binary()  # built by .ci/setup.sh; a cold build here would count against the run's timeout
    args = (f"--target-cmd={GO}", "--semconv=semconv-1.44")
    (tmp_path / "direct").mkdir()
    (tmp_path / "via").mkdir()
    direct = run_suite(tmp_path / "direct", *args)
    via = run_suite(tmp_path / "via", *args, "--via-collector")
    assert direct.findings and via.findings, via.output[-3000:]
    pipeline = via.meta["pipeline"]
    forwarded, total = map(int, re.match(r"(\d+) of (\d+) exports", pipeline).groups())
    assert total > 0 and forwarded == total, pipeline
    assert 'unknown type: "jaeger"' in pipeline, pipeline
    a, b = direct.verdicts(), via.verdicts()
    assert a.keys() == b.keys(), sorted(a.keys() ^ b.keys())
    differ = {key: (a[key], b[key]) for key in a if a[key] != b[key]}
    assert not differ, f"direct vs via the real collector: {differ}\n{via.output[-3000:]}"
    catalog = load_catalog()
    through = {row["id"] for row in via.findings if not catalog[row["id"]].configuration}
    assert {"PROP-001", "SPAN-001", "MET-001", "LOG-001", "SHUT-001"} <= through

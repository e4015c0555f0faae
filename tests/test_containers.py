"""Container targets (``--target-image``): the images of the Go, Rust, C and C++ references,
built FROM scratch by ``.ci/images.sh`` on the Docker engine ``.ci/docker.sh`` starts, pass the
whole catalog through testcontainers with the verdicts each gets launched as a process; the
image's environment and command are the user's to add to; what cannot be started is a usage
error (no engine, no image, a bad option) or a session error (the container would not run).

The engine and the images are set up by ``.ci/run``; a missing one is a failure here, never a
skip, so CI cannot go green without them.
"""
from __future__ import annotations

import os

import pytest

from .conftest import TARGET_CHECKS
from .test_references import REFERENCES, _failing

# .ci/images.sh builds them: Go statically linked, the others with the shared libraries they load.
IMAGES = {name: f"otelconform/reference-{name}:local" for name in ("go", "rust", "c", "cpp")}
IMAGE = IMAGES["go"]
WITH_IMAGES = [r for r in REFERENCES if r.name in IMAGES and not r.variant]
GO = next(r for r in WITH_IMAGES if r.name == "go")
USAGE_ERROR, NOT_CHECKED = 4, 6
# What only a service the suite starts is judged on (attach mode skips them): judged here too.
LAUNCH_ONLY = ("RES-002", "LOG-004", "SHUT-001")


def _engine(image: str = IMAGE):
    import docker

    try:
        client = docker.from_env(timeout=30)
        client.images.get(image)
    except docker.errors.ImageNotFound:
        pytest.fail(f"{image} is not built: run bash .ci/images.sh")
    except docker.errors.DockerException as exc:
        pytest.fail(f"no Docker engine answers ({exc}): run bash .ci/images.sh (as root: it starts dockerd)")
    return client


def _left_behind(client, image: str = IMAGE) -> list[str]:
    return [c.short_id for c in client.containers.list(all=True, filters={"ancestor": image})]


@pytest.mark.parametrize("ref", WITH_IMAGES, ids=lambda r: r.name)
def test_a_reference_image_passes_the_catalog_as_its_process_does(suite_runner, ref):
    """The verdicts tests/test_references.py expects of the reference launched as a process."""
    image = IMAGES[ref.name]
    client = _engine(image)
    run = suite_runner(f"--target-image={image}", f"--semconv={ref.semconv}", f"--otlp-protocol={ref.protocol}")
    failing = _failing(run)
    assert run.returncode == 0 and failing == ref.known_failures, f"{failing}\n{run.output[-3000:]}"
    verdicts = run.verdicts()
    assert {k.split("[")[0] for k in verdicts} == TARGET_CHECKS
    assert [verdicts[k] for k in LAUNCH_ONLY] == ["PASS"] * len(LAUNCH_ONLY), run.output[-3000:]
    assert run.meta["target"] == f"launched: container {image}"
    assert run.meta["ending"].startswith("exited with status 0"), run.meta["ending"]
    assert _left_behind(client, image) == []


def test_the_image_gets_the_environment_and_command_given(suite_runner):
    """otelgrpc emits the conventions up to v1.38 only under OTEL_SEMCONV_STABILITY_OPT_IN=rpc/old:
    the variable reached the service inside the container, through the command named."""
    _engine()
    checks = "-k=SPAN-003 or MET-001"
    given = suite_runner(f"--target-image={IMAGE}", "--target-image-env=OTEL_SEMCONV_STABILITY_OPT_IN=rpc/old",
                         "--target-image-cmd=/reference-go", "--semconv=seed", checks)
    assert given.returncode == 0 and set(given.verdicts().values()) == {"PASS"}, given.output[-3000:]
    without = suite_runner(f"--target-image={IMAGE}", "--semconv=seed", checks)
    assert without.returncode == 1 and "MISMATCH" in without.verdicts().values(), without.output[-3000:]


def test_tls_files_are_mounted_into_the_container(suite_runner):
    _engine()
    run = suite_runner(f"--target-image={IMAGE}", f"--semconv={GO.semconv}", "--target-tls", "--collector-tls",
                       "-k=PROP-001 or TLS or SHUT-001")
    assert run.returncode == 0 and set(run.verdicts().values()) == {"PASS"}, run.output[-3000:]
    assert run.meta["tls"] == "target over mTLS; OTLP over mTLS"


BAD = [
    ("no-engine", [f"--target-image={IMAGE}"], {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}, USAGE_ERROR,
     "needs a running Docker engine, and none answers at unix:///nonexistent/docker.sock"),
    ("no-image", ["--target-image=otelconform/no-such-image:none"], {}, USAGE_ERROR,
     "the Docker engine has no such image and could not pull it"),
    ("bad-env", [f"--target-image={IMAGE}", "--target-image-env=NOVALUE"], {}, USAGE_ERROR,
     "--target-image-env 'NOVALUE': expected KEY=VALUE"),
    ("env-alone", ["--target-cmd=true", "--target-image-env=A=1"], {}, USAGE_ERROR,
     "--target-image-env go with --target-image"),
    ("two-targets", [f"--target-image={IMAGE}", "--target-cmd=true"], {}, USAGE_ERROR,
     "give one of --target, --target-cmd, --target-image and --replay"),
    ("with-chain", ["--chain=go", f"--target-image={IMAGE}"], {}, USAGE_ERROR,
     "without --target, --target-cmd, --target-image or --replay"),
    ("no-such-command", [f"--target-image={IMAGE}", "--target-image-cmd=/nonexistent"], {}, NOT_CHECKED,
     'exec: "/nonexistent": stat /nonexistent: no such file or directory'),
]


@pytest.mark.parametrize("args,env,status,said", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_what_cannot_start_is_said_once_without_a_traceback(suite_runner, args, env, status, said):
    client = _engine()
    run = suite_runner(*args, "-k=PROP-001", env=env, timeout=120)
    assert run.returncode == status and said in run.output, run.output[-3000:]
    assert "Traceback" not in run.output and _left_behind(client) == []

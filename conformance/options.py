"""The suite's command-line options (``pytest --help``, group "conformance").

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import argparse

from dataclasses import dataclass
from typing import Any, Callable

import grpc
import pytest

from otelconform_fixtures.retention import DEFAULT_CAP_BYTES

from .profiles import PROFILE_CHOICES

FAIL_ON = ("must", "should", "may", "none")
DEFAULT_MANIFEST = "conformance.yaml"
INI_PREFIX = "conformance_"


@dataclass(frozen=True)
class _Spec:
    dest: str
    flag: str
    default: Any
    action: str | None
    type: Callable[[str], Any] | None
    choices: tuple | None

    @property
    def ini(self) -> str:
        return INI_PREFIX + self.dest


_SPECS: list[_Spec] = []
_SOURCES = pytest.StashKey[dict]()  # option dest -> where its value came from


class _Options:
    """Registers each option twice: on the command line, and as an ini key (``conformance_<name>``
    in pytest.ini, tox.ini, setup.cfg or ``[tool.pytest.ini_options]``) that gives its default.

    The command-line default is None, so that ``resolve(config)`` can tell an option given from
    one left out, whatever its value."""

    def __init__(self, parser):
        self.parser = parser
        self.group = parser.getgroup("conformance", "gRPC/OpenTelemetry conformance")

    def add(self, flag: str, default: Any = None, action: str | None = None, type=None, choices=None, **kwargs):
        dest = flag.lstrip("-").replace("-", "_")
        spec = _Spec(dest, flag, [] if action == "append" and default is None else default, action, type,
                     tuple(choices) if choices else None)
        _SPECS.append(spec)
        extra = {key: value for key, value in (("action", action), ("type", type), ("choices", choices)) if value}
        self.group.addoption(flag, default=None, **extra, **kwargs)
        self.parser.addini(spec.ini, f"default of {flag} (see pytest --help)",
                           type="linelist" if action == "append" else "string")


def resolve(config) -> None:
    """Fill each option left off the command line from its ini key, else its default."""
    sources = config.stash.setdefault(_SOURCES, {})
    for spec in _SPECS:
        if getattr(config.option, spec.dest, None) is not None:
            sources[spec.dest] = spec.flag
            continue
        value = config.getini(spec.ini)
        if value in ("", []):
            value = spec.default
            sources[spec.dest] = "the default"
        else:
            sources[spec.dest] = f"{spec.ini} in {config.inipath.name if config.inipath else 'the ini file'}"
            if spec.action != "append":
                value = _from_ini(spec, value.strip())
        setattr(config.option, spec.dest, value)


def source(config, dest: str) -> str:
    """Where an option's value came from, as a report says it: the flag, the ini key and its
    file, or the default."""
    return config.stash.get(_SOURCES, {}).get(dest, "the default")


def _from_ini(spec: _Spec, text: str) -> Any:
    where = f"ini option {spec.ini} = {text!r}"
    if spec.action == "store_true":
        if text.lower() in ("true", "yes", "on", "1"):
            return True
        if text.lower() in ("false", "no", "off", "0"):
            return False
        raise pytest.UsageError(f"{where}: expected true or false")
    try:
        value = spec.type(text) if spec.type is not None else text
    except (ValueError, argparse.ArgumentTypeError) as exc:
        raise pytest.UsageError(f"{where}: {exc}") from None
    if spec.choices is not None and value not in spec.choices:
        raise pytest.UsageError(f"{where}: expected one of {', '.join(map(str, spec.choices))}")
    return value


def pytest_addoption(parser):
    group = _Options(parser)
    group.add("--target", metavar="HOST:PORT",
                    help="check a running service; it must export OTLP to the suite's collector "
                         "(--otlp-port, default 4317 in this mode)")
    group.add("--target-cmd", metavar="COMMAND",
                    help="start the service with this shell command ({port} and $PORT give its "
                         "port; OTEL_* variables point it at the suite's collector)")
    group.add("--target-image", metavar="IMAGE",
              help="start the service from this container image, through testcontainers and the local Docker "
                   "engine: host network, the PORT and OTEL_* variables --target-cmd gives, its logs kept alike; "
                   "pulled only when the engine lacks it")
    group.add("--target-image-env", action="append", metavar="KEY=VALUE",
              help="with --target-image: one more environment variable of the container (repeatable); the "
                   "suite's own PORT and OTEL_* settings win over it")
    group.add("--target-image-cmd", metavar="COMMAND",
              help="with --target-image: the container's command instead of the image's CMD (the arguments "
                   "of its ENTRYPOINT when it has one); {port} gives the port")
    group.add("--target-tls", action="store_true",
                    help="connect to the target over TLS; with --target-cmd the suite makes a CA for the run and "
                         "hands the service its certificate (CONFORMANCE_TLS_* variables, see the target "
                         "contract) and asks for a client certificate (mTLS)")
    group.add("--target-ca", metavar="FILE", help="PEM CA bundle to verify the target's certificate "
                    "(default: the system's)")
    group.add("--target-cert", metavar="FILE", help="PEM client certificate for a target that asks for one")
    group.add("--target-key", metavar="FILE", help="PEM private key of --target-cert")
    group.add("--target-server-name", metavar="NAME",
                    help="the name to verify in the target's certificate, instead of the host in --target")
    group.add("--collector-tls", action="store_true",
                    help="with --target-cmd: the suite's collector serves OTLP over TLS and asks for a client "
                         "certificate; the service gets https endpoints and OTEL_EXPORTER_OTLP_CERTIFICATE, "
                         "_CLIENT_CERTIFICATE and _CLIENT_KEY")
    group.add("--call", action="append", metavar="'pkg.Service/Method={json} [-> CODE]'",
              help="zero-contract mode: a call for the suite to make, with its request as JSON and the status "
                   "it should end with (default OK); repeatable. The service needs no test contract: the checks "
                   "that need one are skipped, saying which contract method would enable them")
    group.add("--descriptor-set", metavar="FILE",
              help="with --call: the request and response types from this descriptor set (protoc "
                   "--include_imports --descriptor_set_out=FILE) or .proto file instead of the service's server "
                   "reflection")
    group.add("--outgoing-call", metavar="'pkg.Service/Method={json}'",
              help="with --call: the call that makes the service call its dependency, which must be the "
                   "suite's downstream on --downstream-port (outgoing propagation checks)")
    group.add("--downstream-port", type=int, default=None, metavar="PORT",
              help="with --outgoing-call: the port of the suite's downstream (answers any method); point the "
                   "service's dependency address at 127.0.0.1:PORT")
    group.add("--downstream-status", default="OK", choices=[code.name for code in grpc.StatusCode], metavar="CODE",
              help="with --downstream-port: the status the suite's downstream answers every call with (default "
                   "OK, with an empty message); declare what the --outgoing-call then ends with ('-> CODE')")
    group.add("--otlp-port", type=int, default=None,
                    help="port of the fake collector's OTLP/gRPC receiver (default: ephemeral "
                         "with --target-cmd, 4317 with --target)")
    group.add("--otlp-http-port", type=int, default=None,
                    help="port of the OTLP/HTTP receiver (default: ephemeral with --target-cmd, "
                         "4318 with --target)")
    group.add("--otlp-protocol", default="grpc", choices=("grpc", "http/protobuf", "http/json"),
                    help="OTEL_EXPORTER_OTLP_PROTOCOL given to a launched target (default grpc)")
    group.add("--semconv", default="semconv-1.38", choices=(*PROFILE_CHOICES, "auto"),
              help="semantic-convention profile, named after the RPC semconv version it checks: semconv-1.38 "
                   "(the conventions up to v1.38: rpc.system, rpc.service, rpc.grpc.status_code, "
                   "rpc.server.duration in ms; default), semconv-1.44 (today's: rpc.system.name, "
                   "rpc.response.status_code, rpc.server.call.duration in s), semconv-1.38+1.44 (both at once, "
                   "OTEL_SEMCONV_STABILITY_OPT_IN=rpc/dup), auto (what the target claims or shows); seed, stable "
                   "and dup are accepted for the first three")
    group.add("--trace-context-level", type=int, default=1, choices=(1, 2),
                    help="W3C Trace Context level the target follows: 1 (the Recommendation, what "
                         "OpenTelemetry SDKs implement; tenant@system tracestate keys) or 2 (relaxed "
                         "key grammar, random trace-id flag); default 1")
    group.add("--chain", action="append", metavar="HOP,HOP,...",
              help="chain mode: launch these services (reference names such as go,rust,c, or commands) and "
                   "judge one call travelling through all of them, in this order, as one trace; repeatable "
                   "(each value one chain). Every service must implement the contract's Chain method")
    group.add("--chain-scenario", action="append", choices=("architecture", "pairs", "seed"),
              help="chain mode: add named chains: architecture (the architecture document's go → rust → c and "
                   "go → python → c; also accepted as seed) "
                   "or pairs (every ordered pair of the six reference services, and each as the middle of a "
                   "triple); repeatable")
    group.add("--via-collector", action="store_true",
              help="with --target-cmd: the service exports to a real OpenTelemetry Collector (built with OCB, "
                   "cached) that runs the architecture document's collector config, adapted, and forwards to the suite's collector")
    group.add("--backends", action="store_true",
              help="implies --via-collector: the collector also sends traces to Jaeger and serves metrics to "
                   "Prometheus, and the backend checks (BACK-*) query both")
    group.add("--schema", action="append", default=[], metavar="FILE",
                    help="a team rule: JSON Schema with an 'x-conformance' header {id, level, "
                         "applies_to}; may be given several times")
    group.add("--manifest", metavar="FILE",
                    help=f"expected-failure manifest (default: ./{DEFAULT_MANIFEST} if present)")
    group.add("--service-name", default="conformance-target",
                    help="OTEL_SERVICE_NAME given to a launched target")
    group.add("--telemetry-timeout", type=float, default=10.0,
                    help="seconds to wait for expected telemetry (default 10)")
    group.add("--call-timeout", type=float, default=5.0,
                    help="deadline of each call the suite makes to the target (default 5)")
    group.add("--ready-timeout", type=float, default=30.0,
                    help="seconds a launched target has to report SERVING (default 30)")
    group.add("--collector-memory", type=_positive_mib, default=DEFAULT_CAP_BYTES // 2**20, metavar="MIB",
                    help="memory the suite's collector may spend on each signal's telemetry outside the "
                         "suite's own traces; past it, the oldest such exports are dropped and the report "
                         f"says how many (default {DEFAULT_CAP_BYTES // 2**20}; no limit with --capture-run, "
                         "so that a replay sees all the checks saw)")
    group.add("--redact-metadata", action="append", default=[], metavar="NAME",
                    help="also redact the values of this metadata key in captures and reports (repeatable; "
                         "authorization, cookie, x-api-key and the like always are)")
    group.add("--keep-secrets", action="store_true",
                    help="write credential-bearing metadata to captures and reports as received (default: "
                         "redacted)")
    group.add("--fail-on", default="must", choices=FAIL_ON,
                    help="lowest check level whose failure fails the run (default must)")
    group.add("--findings", metavar="FILE", help="write the per-check findings as JSON")
    group.add("--html-report", metavar="FILE",
              help="write one self-contained HTML page: failures first with their traces as a waterfall, "
                   "filters by level, signal and verdict, every check")
    group.add("--capture-run", metavar="FILE",
                    help="save everything received and sent, for --replay (.gz to compress)")
    group.add("--replay", metavar="FILE",
                    help="re-judge a --capture-run offline: same checks, same verdicts, no target")
    group.add("--check-concurrency", type=int, default=8, metavar="N",
                    help="how many independent checks run at once against the target (default 8; "
                         "1 runs them one at a time)")
    group.add("--markdown", metavar="FILE",
                    help="write a Markdown summary (also appended to $GITHUB_STEP_SUMMARY when set)")


def _positive_mib(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of MiB, at least 1, got {text!r}")
    return int(text)


def repair_rootdir(early_config) -> None:
    """Undo pytest taking the value of a space-separated option for a test path.

    pytest picks its rootdir and config file before plugins add their options, so in
    ``--target-cmd /path/to/run.sh`` (space form) it reads ``/path/to/run.sh`` as a test
    path and roots the run there. Once the options are known, decide again from the real
    test paths. A config file that already contributed ``addopts`` cannot be taken back:
    then ask for the ``--option=value`` form instead.
    """
    from _pytest.config.findpaths import determine_setup

    ns = early_config.known_args_namespace
    try:
        rootpath, inipath, inicfg, *_ = determine_setup(
            inifile=ns.inifilename, override_ini=ns.override_ini, args=ns.file_or_dir,
            rootdir_cmd_arg=ns.rootdir or None, invocation_dir=early_config.invocation_params.dir)
    except Exception:  # a pytest whose internals differ: keep its own decision
        return
    if (rootpath, inipath) == (early_config.rootpath, early_config.inipath):
        return
    if early_config._inicfg.get("addopts") != inicfg.get("addopts"):
        import pytest

        raise pytest.UsageError(
            f"pytest read an option's value as a test path and took its settings from "
            f"{early_config.inipath}; write the suite's options as --option=value "
            f"(e.g. --target-cmd='/path/to/run.sh')")
    automatic_cutdir = str(early_config.inipath.parent if early_config.inipath else early_config.rootpath)
    early_config._rootpath, early_config._inipath, early_config._inicfg = rootpath, inipath, inicfg
    early_config._inicache.clear()
    early_config._parser.extra_info.update(rootdir=str(rootpath), inifile=str(inipath))
    if ns.confcutdir == automatic_cutdir:
        ns.confcutdir = str(inipath.parent if inipath is not None else rootpath)

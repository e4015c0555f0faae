"""Semantic-convention profiles: which attribute names and metrics a target must use.

Each profile is named after the RPC semantic-convention version it validates against:
``semconv-1.38`` (the conventions up to v1.38, which the 2024 architecture's table follows),
``semconv-1.44`` (today's RPC conventions, renamed from v1.39 on) and ``semconv-1.38+1.44``
(both at once); ``seed``, ``stable`` and ``dup`` remain accepted as aliases and are the names in
code. The rules themselves are JSON Schemas in ``schemas/<profile>/`` (``schemas/semconv-1.38/``
and so on), their ids ``urn:otelconform:<profile>:<kind>``; values that depend on the call
(method, status code) are written ``$name`` there and filled in per call.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import grpc
import jsonschema

from otelconform_schemas import SCHEMA_DIR

from .contract import full_method, split_method

PROFILES = ("seed", "stable", "dup")  # the names in code, and aliases of the names below
PROFILE_NAMES = {"seed": "semconv-1.38", "stable": "semconv-1.44", "dup": "semconv-1.38+1.44"}
PROFILE_CHOICES = (*PROFILE_NAMES.values(), *PROFILES)
LAST_LEGACY_SEMCONV = (1, 38)  # RPC attributes were renamed in semconv v1.39

# semconv docs/rpc/grpc.md: server spans are errors only for these codes.
SERVER_ERROR_CODES = frozenset({
    grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DATA_LOSS,
})


def _load(path: Path) -> Any:
    return json.loads(path.read_text())


@cache
def _schemas_by_id() -> dict[str, dict]:
    return {doc["$id"]: doc for doc in map(_load, sorted(SCHEMA_DIR.rglob("*.schema.json")))}


def _fill(node: Any, values: dict[str, Any]) -> Any:
    """Fill ``$name`` placeholders and inline ``$ref``s to other suite schemas."""
    if isinstance(node, dict):
        if "$ref" in node and node["$ref"] in _schemas_by_id():
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return {**_fill(_schemas_by_id()[node["$ref"]], values), **_fill(rest, values)}
        return {k: _fill(v, values) for k, v in node.items() if k not in ("$id", "$schema")}
    if isinstance(node, list):
        return [_fill(v, values) for v in node]
    if isinstance(node, str) and node.startswith("$") and node[1:] in values:
        return values[node[1:]]
    return node


def call_values(method: str, code: grpc.StatusCode) -> dict[str, Any]:
    service, short = split_method(method)
    return {"service": service, "method": short, "full_method": full_method(method),
            "status_code": code.value[0], "status_name": code.name}


# The attributes that record a call's outcome, in every profile.
STATUS_ATTRIBUTES = ("rpc.grpc.status_code", "rpc.response.status_code", "rpc.status_code", "error.type")


def _concerns(error: jsonschema.ValidationError, instance: Any, names: tuple[str, ...]) -> bool:
    """Does this schema violation concern one of the attributes ``names``? (A status check
    then reports it, while a missing rpc.service stays the attribute check's finding alone.)"""
    if error.absolute_path:
        return error.absolute_path[0] in names
    if error.validator == "required":
        return any(n in names for n in error.validator_value if n not in instance)
    return any(name in json.dumps(error.validator_value) for name in names)


def schema_errors(schema: dict, instance: Any, only: tuple[str, ...] | None = None) -> list[str]:
    """Violations as text; with ``only``, just those about these attribute names."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path)) or '(attributes)'}: {e.message}"
            for e in errors if only is None or _concerns(e, instance, only)]


@dataclass(frozen=True)
class Profile:
    name: str  # seed, stable or dup
    reason: str = "chosen with --semconv or conformance_semconv"  # why this profile applies, for the report

    @property
    def label(self) -> str:
        """The name a user reads and gives to --semconv (the semconv version it validates), and
        the name of its schemas/ folder."""
        return PROFILE_NAMES[self.name]

    @property
    def definition(self) -> dict[str, Any]:
        return _load(SCHEMA_DIR / self.label / "profile.json")

    @property
    def semconv(self) -> str:
        return self.definition["semconv"]

    @property
    def server_durations(self) -> list[dict[str, str]]:
        return self.definition["server_durations"]

    def _schema(self, urn: str, method: str, code: grpc.StatusCode, client: bool = False) -> dict:
        schema = _fill({"$ref": urn}, call_values(method, code))
        if self.name != "seed" and not urn.endswith("duration-point"):
            # semconv docs/general/recording-errors.md: error.type is set when the operation
            # failed; a server span has failed only for the server-fault codes.
            failed = code != grpc.StatusCode.OK and (client or code in SERVER_ERROR_CODES)
            if failed:
                schema = {"allOf": [schema, {"required": ["error.type"]}]}
            elif code == grpc.StatusCode.OK:
                schema = {"allOf": [schema, {"not": {"required": ["error.type"]}}]}
        return schema

    def span_errors(self, kind: str, attributes: dict, method: str, code: grpc.StatusCode,
                    only: tuple[str, ...] | None = None) -> list[str]:
        """Schema violations of a ``server-span`` or ``client-span``'s attributes (with
        ``only``, just those about these attributes, STATUS_ATTRIBUTES say)."""
        schema = self._schema(f"urn:otelconform:{self.label}:{kind}", method, code, kind == "client-span")
        return schema_errors(schema, attributes, only)

    def point_errors(self, metric: dict, attributes: dict, method: str, code: grpc.StatusCode) -> list[str]:
        return schema_errors(self._schema(metric["point_schema"], method, code), attributes)


def point_matches(attributes: dict, method: str, code: grpc.StatusCode) -> bool:
    """Is this RPC duration data point the one for calls of ``method`` ending ``code``?

    Either convention identifies the method; whichever status attribute is present must agree.
    """
    name = attributes.get("rpc.method")
    service, short = split_method(method)
    if name == short:
        if attributes.get("rpc.service") != service:
            return False
    elif name != full_method(method):
        return False
    if "rpc.grpc.status_code" in attributes and attributes["rpc.grpc.status_code"] != code.value[0]:
        return False
    status = attributes.get("rpc.response.status_code", attributes.get("rpc.status_code"))
    return status is None or status == code.name


def _semconv_version(schema_url: str) -> tuple[int, int] | None:
    match = re.search(r"/schemas/(\d+)\.(\d+)", schema_url or "")
    return (int(match[1]), int(match[2])) if match else None


def detect_profile(span) -> Profile:
    """``--semconv=auto``: the profile a target claims (schema_url) or, failing that, shows."""
    attrs = span.attributes
    if "rpc.system" in attrs and "rpc.system.name" in attrs:
        return Profile("dup", "the server span carries both the legacy and the current RPC attributes")
    version = _semconv_version(span.schema_url) or _semconv_version(span.resource_schema_url)
    if version is not None:
        name = "seed" if version <= LAST_LEGACY_SEMCONV else "stable"
        return Profile(name, f"schema_url {span.schema_url or span.resource_schema_url} claims semconv "
                             f"{version[0]}.{version[1]}")
    if "rpc.system.name" in attrs:
        return Profile("stable", "no schema_url; the server span carries rpc.system.name")
    if "rpc.system" in attrs:
        return Profile("seed", "no schema_url; the server span carries rpc.system")
    return Profile("seed", "no schema_url and no rpc.system attribute: defaulting to semconv-1.38")


def resource_errors(resource: dict) -> list[str]:
    return schema_errors(_load(SCHEMA_DIR / "resource.schema.json"), resource)


def log_line_errors(line: dict) -> list[str]:
    return schema_errors(_load(SCHEMA_DIR / "log-line.schema.json"), line)


def get_profile(name: str) -> Profile:
    """The profile of a name (semconv-1.44) or of its alias (stable)."""
    key = next((k for k, label in PROFILE_NAMES.items() if name in (k, label)), None)
    if key is None:
        raise ValueError(f"unknown semconv profile {name!r}; choose one of {', '.join(PROFILE_NAMES.values())}")
    return Profile(key)


APPLIES_TO = ("resource", "server-span", "client-span", "log-record")


@dataclass(frozen=True)
class TeamSchema:
    """A team's own rule (``--schema FILE``): a JSON Schema with an ``x-conformance`` header."""

    path: Path
    id: str
    level: str
    title: str
    applies_to: str
    schema: dict = field(hash=False, compare=False)


def load_team_schema(path: Path) -> TeamSchema:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"--schema {path}: cannot read a JSON document: {exc}") from None
    header = document.get("x-conformance") if isinstance(document, dict) else None
    problems = schema_errors({
        "type": "object", "required": ["id", "level", "applies_to"],
        "properties": {"id": {"type": "string", "pattern": "^[A-Z]+-[0-9]{3}$"},
                       "level": {"enum": ["MUST", "SHOULD", "MAY"]},
                       "applies_to": {"enum": list(APPLIES_TO)}, "title": {"type": "string"}}},
        header)
    if problems:
        raise ValueError(f"--schema {path}: its 'x-conformance' header is invalid: " + "; ".join(problems))
    try:
        jsonschema.Draft202012Validator.check_schema(document)
    except jsonschema.SchemaError as exc:
        raise ValueError(f"--schema {path}: not a valid JSON Schema: {exc.message}") from None
    return TeamSchema(path, header["id"], header["level"], header.get("title") or document.get("title")
                      or f"team rule {path.name}", header["applies_to"], document)

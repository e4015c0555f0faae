"""Semantic-convention profiles: which attribute names and metric a target must use.

``seed`` is the 2024 design (= RPC semconv up to v1.38); ``stable`` is today's RPC
conventions. The rules themselves are JSON Schemas in ``schemas/``; values that depend
on the call (method, status code) are written ``$name`` there and filled in here.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import grpc
import jsonschema
from referencing import Registry, Resource

from otelconform_schemas import SCHEMA_DIR

from .contract import SERVICE, full_method

PROFILES = ("seed", "stable")

# semconv docs/rpc/grpc.md: server spans are errors only for these codes.
SERVER_ERROR_CODES = frozenset({
    grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DATA_LOSS,
})


def _load(path: Path) -> Any:
    return json.loads(path.read_text())


def _all_schemas() -> Registry:
    resources = []
    for path in sorted(SCHEMA_DIR.rglob("*.schema.json")):
        document = _load(path)
        resources.append((document["$id"], Resource.from_contents(document)))
    return Registry().with_resources(resources)


def _fill(node: Any, values: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        return {k: _fill(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill(v, values) for v in node]
    if isinstance(node, str) and node.startswith("$") and node[1:] in values:
        return values[node[1:]]
    return node


def call_values(method: str, code: grpc.StatusCode) -> dict[str, Any]:
    return {"service": SERVICE, "method": method, "full_method": full_method(method),
            "status_code": code.value[0], "status_name": code.name}


def schema_errors(schema: dict, instance: Any, registry: Registry | None = None) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema, registry=registry or Registry())
    return [f"{'/'.join(map(str, e.absolute_path)) or '(attributes)'}: {e.message}"
            for e in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))]


@dataclass(frozen=True)
class Profile:
    name: str

    @cached_property
    def definition(self) -> dict[str, Any]:
        return _load(SCHEMA_DIR / self.name / "profile.json")

    @cached_property
    def registry(self) -> Registry:
        return _all_schemas()

    @property
    def semconv(self) -> str:
        return self.definition["semconv"]

    @property
    def server_duration(self) -> dict[str, str]:
        return self.definition["server_duration"]

    def _schema(self, kind: str, method: str, code: grpc.StatusCode) -> dict:
        # Resolve the $ref'd base schema from the filled registry, not the raw one.
        values = call_values(method, code)
        schema = _fill(_load(SCHEMA_DIR / self.name / f"{kind}.schema.json"), values)
        schema.pop("$id", None)
        for ref in schema.get("allOf", []):
            if "$ref" in ref:
                base = _fill(copy.deepcopy(self.registry.contents(ref.pop("$ref"))), values)
                base.pop("$id", None)
                ref.update(base)
        if self.name == "stable" and kind != "duration-point":
            # semconv docs/general/recording-errors.md: error.type is set when the operation
            # failed; a server span has failed only for the server-fault codes.
            failed = code != grpc.StatusCode.OK and (kind == "client-span" or code in SERVER_ERROR_CODES)
            if failed:
                schema = {"allOf": [schema, {"required": ["error.type"]}]}
            elif code == grpc.StatusCode.OK:
                schema = {"allOf": [schema, {"not": {"required": ["error.type"]}}]}
        return schema

    def span_errors(self, kind: str, attributes: dict, method: str, code: grpc.StatusCode) -> list[str]:
        """Schema violations of a ``server-span`` or ``client-span``'s attributes."""
        return schema_errors(self._schema(kind, method, code), attributes, self.registry)

    def point_errors(self, attributes: dict, method: str, code: grpc.StatusCode) -> list[str]:
        return schema_errors(self._schema("duration-point", method, code), attributes, self.registry)

    def point_matches(self, attributes: dict, method: str, code: grpc.StatusCode) -> bool:
        """Is this data point the one for calls of ``method`` ending ``code``?"""
        if self.name == "seed":
            if attributes.get("rpc.method") != method or attributes.get("rpc.service") != SERVICE:
                return False
            status = attributes.get("rpc.grpc.status_code")
            return status is None or status == code.value[0]
        if attributes.get("rpc.method") != full_method(method):
            return False
        status = attributes.get("rpc.response.status_code", attributes.get("rpc.status_code"))
        return status is None or status == code.name


def resource_errors(resource: dict) -> list[str]:
    return schema_errors(_load(SCHEMA_DIR / "resource.schema.json"), resource)


def log_line_errors(line: dict) -> list[str]:
    return schema_errors(_load(SCHEMA_DIR / "log-line.schema.json"), line)


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise ValueError(f"unknown semconv profile {name!r}; choose one of {', '.join(PROFILES)}")
    return Profile(name)

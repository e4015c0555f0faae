"""The conformance.v1 control contract, generated from its .proto when first imported.

Code is generated in memory by grpcio-tools (``grpc.protos_and_services``) from the one
copy of the contract, so no generated file exists in the repository or the wheel.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import sys
from pathlib import Path

import grpc
from otelconform_fixtures.retention import KeepWhole

PROTO_DIR = Path(__file__).resolve().parent / "proto"
PROTO_FILE = PROTO_DIR / "conformance_v1.proto"
SERVICE = "conformance.v1.Conformance"


def _generate():
    sys.path.insert(0, str(PROTO_DIR))
    try:
        return grpc.protos_and_services(PROTO_FILE.name)
    finally:
        sys.path.remove(str(PROTO_DIR))


pb, services = _generate()
METHODS = frozenset(m.name for m in pb.DESCRIPTOR.services_by_name[SERVICE.rsplit(".", 1)[1]].methods)


def split_method(method: str) -> tuple[str, str]:
    """(service, method) of a contract method (``Echo``) or of any ``package.Service/Method``
    (a call named with --call in zero-contract mode)."""
    service, _, name = method.rpartition("/")
    return service or SERVICE, name


def full_method(method: str) -> str:
    """``package.Service/Method``: the span name semconv requires (no leading slash)."""
    service, name = split_method(method)
    return f"{service}/{name}"


# The collector keeps, past its memory cap, the exports a check may look for at any time: in
# a trace the suite started, or with a span named after a contract call (a check finds the root
# span the target started for an untraced call by its name and duration).
KEEP_WHOLE = KeepWhole(span_names=METHODS)

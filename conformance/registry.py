"""The check catalog: every check registers its ID, level, spec reference and signal.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import pytest


class Level(str, Enum):
    MUST = "MUST"
    SHOULD = "SHOULD"
    MAY = "MAY"

    @property
    def rank(self) -> int:
        return {"MUST": 0, "SHOULD": 1, "MAY": 2}[self.value]


@dataclass(frozen=True)
class CheckInfo:
    id: str
    level: Level
    title: str
    spec: str  # the specification section the check enforces
    signal: str  # traces | metrics | logs | grpc | resource
    killed_by: tuple[str, ...] = ()  # reference mutants this check must catch
    launch_only: bool = False  # needs the suite to start the target itself
    runs_last: bool = False  # ends the target's session (stops it), so runs after every other check
    exclusive: bool = False  # needs the target to itself (counts its calls): never runs concurrently
    needs: tuple[str, ...] = ()  # session resources the plugin prepares for it ("generated inputs")
    configuration: str = ""  # runs against its own instance started so (configurations.py)
    quiet: bool = False  # times calls: runs alone, once the checks that load the machine are over
    floods: bool = False  # makes hundreds of calls: starts once the main instance's concurrent checks are over
    zero_contract: bool = False  # also runs on the calls a user names (--call), without the test contract
    fix: str = ""  # how a service that fails the check usually fixes it, shown with the failure
    chain: bool = False  # judges a call through several services (--chain): runs in chain mode only
    backends: bool = False  # queries Jaeger and Prometheus behind the real collector: runs with --backends only


REGISTRY: dict[str, CheckInfo] = {}


def check(id: str, level: str, title: str, spec: str, signal: str,
          killed_by: tuple[str, ...] = (), launch_only: bool = False, runs_last: bool = False,
          exclusive: bool = False, needs: tuple[str, ...] = (), configuration: str = "", quiet: bool = False,
          floods: bool = False, zero_contract: bool = False, fix: str = "", chain: bool = False,
          backends: bool = False):
    """Register a check function under ``id`` and mark it for the plugin's report."""
    info = CheckInfo(id, Level(level), title, spec, signal, tuple(killed_by), launch_only or bool(configuration),
                     runs_last, exclusive or runs_last, tuple(needs), configuration, quiet, floods, zero_contract,
                     fix, chain, backends)

    def decorate(fn):
        existing = REGISTRY.get(id)
        if existing is not None and existing != info:
            raise ValueError(f"check ID {id} registered twice with different definitions")
        REGISTRY[id] = info
        fn.conformance_check = info
        return pytest.mark.conformance(id=id)(fn)

    return decorate


def info_for(item) -> CheckInfo | None:
    marker = item.get_closest_marker("conformance")
    return REGISTRY.get(marker.kwargs["id"]) if marker else None


def load_catalog() -> dict[str, CheckInfo]:
    """Import every built-in check module so that REGISTRY holds the whole catalog."""
    import importlib
    import pkgutil

    from . import checks

    for module in pkgutil.iter_modules(checks.__path__):
        if module.name.startswith("test_"):
            importlib.import_module(f"{checks.__name__}.{module.name}")
    return REGISTRY

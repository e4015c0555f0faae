"""The pytest side of chain mode: options to chains, the session of launched services, and
which checks a run collects (the chain checks in chain mode, the others otherwise).

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from .chains import ChainSession, ChainSpecError, parse_chains
from .profiles import get_profile
from .selection import item_info

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_STARTING = pytest.StashKey[Future]()
_SESSION = pytest.StashKey[ChainSession]()


def asked(config) -> bool:
    return bool(config.getoption("--chain") or config.getoption("--chain-scenario"))


def configure(config, parallel: bool) -> bool:
    """At pytest_configure: True when the run is in chain mode; starts its services while pytest
    collects."""
    if not asked(config):
        return False
    if config.getoption("--target") or config.getoption("--target-cmd") or config.getoption("--replay") \
            or config.getoption("--target-image"):
        raise pytest.UsageError("--chain and --chain-scenario launch the services of their chains themselves: give "
                                "them without --target, --target-cmd, --target-image or --replay")
    if parallel:
        raise pytest.UsageError("chain mode launches each service once for the whole run: run it without -n")
    root = Path.cwd() if (Path.cwd() / "reference_services").is_dir() else PROJECT_ROOT
    try:
        chains = parse_chains(config.getoption("--chain"), config.getoption("--chain-scenario"), root)
    except ChainSpecError as exc:
        raise pytest.UsageError(str(exc)) from None
    session = ChainSession(chains, config.getoption("--ready-timeout"), config.getoption("--telemetry-timeout"),
                           config.getoption("--call-timeout"))
    # Services of a chain may follow different profiles: each one's is detected, unless asked.
    given = config.getini("conformance_semconv") or any(
        a == "--semconv" or a.startswith("--semconv=") for a in config.invocation_params.args)
    choice = config.getoption("--semconv")
    session.profile = None if choice == "auto" or not given else get_profile(choice)
    config.stash[_SESSION] = session
    if not config.option.collectonly:
        pool = ThreadPoolExecutor(1, thread_name_prefix="conformance-chain-start")
        config.stash[_STARTING] = pool.submit(session.start)
        pool.shutdown(wait=False)
    return True


def session_of(config) -> ChainSession | None:
    return config.stash.get(_SESSION, None)


def pytest_generate_tests(metafunc):
    if "chain" in metafunc.fixturenames:
        session = session_of(metafunc.config)
        chains = session.chains if session is not None else []
        metafunc.parametrize("chain", chains or [None], ids=[c.id for c in chains] or ["chain"])


def select(config, items, listing_catalog: bool) -> None:
    """Chain mode runs the chain checks only; any other run leaves them out, unless it only
    lists the catalog."""
    if listing_catalog:
        return
    in_mode = session_of(config) is not None
    dropped = [i for i in items if (info := item_info(i)) is not None and info.chain != in_mode]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [i for i in items if i not in dropped]


@pytest.fixture(scope="session")
def _chain_session(request):
    config = request.config
    session = session_of(config)
    if session is None:
        yield None
        return
    try:
        config.stash[_STARTING].result()
    except Exception as exc:  # noqa: BLE001 (the suite's own servers could not start: shown on every check)
        session.start_error = f"chain mode could not start: {exc}"
    yield session
    session.stop()


@pytest.fixture
def chain_observation(_chain_session, chain):
    if _chain_session is None:
        pytest.skip("a chain check: run it in chain mode, e.g. --chain go,rust,c or --chain-scenario architecture")
    if _chain_session.start_error:
        pytest.fail(_chain_session.start_error, pytrace=False)
    return _chain_session.observation(chain)

"""Choosing checks the pytest way: ``-k`` by check ID, ``-m`` by level and signal, ``--co``.

pytest's ``-k`` matches any substring of an item's names, so ``-k RES`` would also pick
LOG-003 (its function name says "resource") and every check in test_export_failures.py. For a
conformance check, a ``-k`` word that is a check ID (PROP-001) or a family of them (RES)
therefore matches by ID only; any other word keeps pytest's substring rule. Items that are not
checks (a team's own tests in the same run) are matched exactly as pytest matches them.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import re

import pytest

from .profiles import TeamSchema
from .registry import REGISTRY, CheckInfo, Level, info_for

LEVEL_MARKERS = {level: level.value.lower() for level in Level}
SIGNAL_MARKERS = {
    "traces": "spans and trace-context propagation",
    "metrics": "metrics",
    "logs": "log records",
    "resource": "resource attributes (service identity)",
    "grpc": "gRPC behaviour (status codes, deadlines)",
    "lifecycle": "start-up, shutdown and export behaviour",
}
_ID_WORD = re.compile(r"[A-Za-z]+(?:-\d+)?")


def item_info(item) -> CheckInfo | None:
    """The check an item runs: a built-in check, or a team rule given with --schema."""
    team = getattr(item, "callspec", None) and item.callspec.params.get("team_schema")
    if isinstance(team, TeamSchema):
        return CheckInfo(team.id, Level(team.level), team.title, f"team rule {team.path}", team.applies_to,
                         fix=_team_fix(team))
    return info_for(item)


def _team_fix(team: TeamSchema) -> str:
    """A team rule's fix: its header's ``fix`` when it has one, else where the rule lives."""
    header = team.schema.get("x-conformance") if isinstance(team.schema, dict) else None
    given = header.get("fix") if isinstance(header, dict) else None
    if isinstance(given, str) and given.strip():
        return given.strip()
    return (f"Give the {team.applies_to.replace('-', ' ')} what the team rule {team.path.name} requires (the "
            f"message names the property); the rule's 'x-conformance' header can say how, as a 'fix' text.")


def register_markers(config) -> None:
    for level, marker in LEVEL_MARKERS.items():
        config.addinivalue_line("markers", f"{marker}: a conformance check of level {level.value}")
    for signal, what in SIGNAL_MARKERS.items():
        config.addinivalue_line("markers", f"{signal}: a conformance check of {what}")


class _CheckMatcher:
    """``-k`` for one check: ID words by ID, other words as pytest matches them."""

    def __init__(self, info: CheckInfo, fallback, ids: frozenset[str], families: frozenset[str]):
        self.info, self.fallback, self.ids, self.families = info, fallback, ids, families

    def __call__(self, word: str, /, **kwargs) -> bool:
        upper = word.upper()
        if _ID_WORD.fullmatch(word):
            if upper in self.ids:
                return self.info.id.upper() == upper
            if upper in self.families:
                return self.info.id.upper().split("-", 1)[0] == upper
        return self.fallback(word, **kwargs)


def _keyword_filter(config, items, infos) -> None:
    """Deselect by ``-k`` here (and clear it for pytest): for checks by the rule above."""
    expression = config.option.keyword.strip()
    if not expression:
        return
    try:  # pytest's own parser and matcher, so that non-check items behave exactly as usual
        from _pytest.mark import KeywordMatcher
        from _pytest.mark.expression import Expression
    except ImportError:  # a pytest without them: its own -k (substring) applies
        return
    try:
        compiled = Expression.compile(expression)
    except Exception:  # noqa: BLE001 (pytest reports the bad expression itself, in its words)
        return
    known = [info for info in infos if info is not None] + list(REGISTRY.values())
    ids = frozenset(info.id.upper() for info in known)
    families = frozenset(i.split("-", 1)[0] for i in ids)
    kept, dropped = [], []
    for item, info in zip(items, infos):
        matcher = KeywordMatcher.from_item(item)
        if info is not None:
            matcher = _CheckMatcher(info, matcher, ids, families)
        (kept if compiled.evaluate(matcher) else dropped).append(item)
    config.option.keyword = ""  # done: pytest's substring pass would undo "not RES"
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    infos = [item_info(item) for item in items]
    for item, info in zip(items, infos):
        if info is None:
            continue
        item.add_marker(LEVEL_MARKERS[info.level])
        if info.signal in SIGNAL_MARKERS:
            item.add_marker(info.signal)
        item.extra_keyword_matches.add(info.id)
    _keyword_filter(config, items, infos)


def pytest_report_collectionfinish(config, start_path, items):
    """Under --co, the checks collected: ID, level, signal and title, one line per check."""
    if not config.option.collectonly:
        return None
    rows: dict[str, tuple[CheckInfo, int]] = {}
    for item in items:
        info = item_info(item)
        if info is not None:
            count = rows.get(info.id, (info, 0))[1]
            rows[info.id] = (info, count + 1)
    if not rows:
        return None
    width = max(len(i) for i in rows)
    lines = [f"conformance checks collected: {len(rows)} ({len(items)} test items)"]
    for check_id, (info, count) in sorted(rows.items(), key=lambda r: _sort_key(r[0])):
        times = f" ({count} cases)" if count > 1 else ""
        lines.append(f"  {check_id:<{width}}  {info.level.value:<6}  {info.signal:<9}  {info.title}{times}")
    return lines


def _sort_key(check_id: str) -> tuple:
    family, _, number = check_id.partition("-")
    return (family, int(number) if number.isdigit() else 0, check_id)

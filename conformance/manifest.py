"""Expected-failure manifests: the checks a service knowingly fails, and until when.

The semantics are strict so a manifest cannot rot: a listed check that passes fails the
run (the entry must go), an expired entry fails the run, and an ID the catalog does not
know is a usage error.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from otelconform_schemas import SCHEMA_DIR

from .profiles import schema_errors


class ManifestError(ValueError):
    pass


@dataclass(frozen=True)
class Entry:
    id: str  # "STAT-001" or "STAT-001[NOT_FOUND]"
    reason: str
    issue: str
    expires: dt.date

    @property
    def check_id(self) -> str:
        return self.id.partition("[")[0]

    def expired(self, today: dt.date) -> bool:
        return self.expires < today


@dataclass(frozen=True)
class Manifest:
    path: Path
    entries: tuple[Entry, ...]

    def lookup(self, check_id: str, param: str) -> Entry | None:
        """The entry for one check instance; an entry with a parameter beats one without."""
        exact = f"{check_id}[{param}]" if param else check_id
        for entry in self.entries:
            if entry.id == exact:
                return entry
        return next((e for e in self.entries if e.id == check_id), None)


def load_manifest(path: Path, known_ids: set[str]) -> Manifest:
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ManifestError(f"{path}: cannot read the manifest: {exc}") from None
    schema = json.loads((SCHEMA_DIR / "manifest.schema.json").read_text())
    # YAML turns 2027-01-31 into a date; the schema speaks of the text form.
    if isinstance(document, dict):
        for item in document.get("expected_failures") or []:
            if isinstance(item, dict) and isinstance(item.get("expires"), dt.date):
                item["expires"] = item["expires"].isoformat()
    errors = schema_errors(schema, document)
    if errors:
        raise ManifestError(f"{path} is not a valid manifest:\n  " + "\n  ".join(errors))
    entries = []
    for item in document["expected_failures"]:
        try:
            expires = dt.date.fromisoformat(item["expires"])
        except ValueError:
            raise ManifestError(f"{path}: {item['id']}: expires {item['expires']!r} is not a date") from None
        entries.append(Entry(item["id"], item["reason"], item["issue"], expires))
    unknown = sorted({e.check_id for e in entries} - known_ids)
    if unknown:
        raise ManifestError(f"{path}: unknown check ID(s) {', '.join(unknown)}; "
                            f"see docs/checks.md for the catalog")
    seen = set()
    for entry in entries:
        if entry.id in seen:
            raise ManifestError(f"{path}: {entry.id} is listed twice")
        seen.add(entry.id)
    return Manifest(path, tuple(entries))

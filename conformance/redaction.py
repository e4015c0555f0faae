"""Credentials kept out of everything the suite writes: captures, findings, reports.

A target's exporter may send ``authorization: Bearer …`` to the collector (from
OTEL_EXPORTER_OTLP_HEADERS), a service may forward a cookie to its dependency, and the suite's
own credential check sends made-up secrets. The values of such metadata are replaced by
``[redacted]`` wherever metadata is written, and every value seen under such a name is also
struck from free text (failure messages, span attributes, a service's stdout), where it may
turn up copied. ``--keep-secrets`` turns this off; ``--redact-metadata NAME`` adds names.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import os
import re
import threading
from typing import Any, Iterable
from urllib.parse import unquote

SENSITIVE_METADATA = ("authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key",
                      "x-auth-token", "x-amz-security-token")
REDACTED = "[redacted]"
# Shorter values are left alone in free text: striking "1" or "on" everywhere would garble
# the report and protect nothing.
MIN_SECRET_LENGTH = 6
EXPORTER_HEADER_VARIABLES = ("OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                             "OTEL_EXPORTER_OTLP_METRICS_HEADERS", "OTEL_EXPORTER_OTLP_LOGS_HEADERS")


class Redactor:
    """Remembers the sensitive values seen and strikes them from what the suite writes."""

    def __init__(self, extra_names: Iterable[str] = (), enabled: bool = True):
        self.enabled = enabled
        self.names = frozenset(n.strip().lower() for n in (*SENSITIVE_METADATA, *extra_names) if n.strip())
        self._values: set[str] = set()
        self._pattern: re.Pattern | None = None
        self._lock = threading.Lock()

    def is_sensitive(self, key: str) -> bool:
        return key.lower() in self.names

    def learn(self, metadata: Iterable[tuple[str, Any]]) -> None:
        """Remember the values of sensitive keys in ``metadata`` (pairs of key and value)."""
        found = [str(v) for k, v in metadata if self.is_sensitive(str(k))]
        if found:
            self.learn_values(found)

    def learn_values(self, values: Iterable[str]) -> None:
        new = set()
        for value in values:
            value = value.strip()
            # "Bearer abc…": the credential alone may be what gets copied.
            parts = [value, *value.split(None, 1)[1:], *(p.split("=", 1)[1] for p in value.split(";") if "=" in p)]
            new.update(p.strip() for p in parts if len(p.strip()) >= MIN_SECRET_LENGTH)
        with self._lock:
            if not new <= self._values:
                self._values |= new
                # Longest first, so a value is struck whole before any part of it.
                self._pattern = re.compile("|".join(map(re.escape, sorted(self._values, key=len, reverse=True))))

    def learn_environment(self, env: dict[str, str] | None = None) -> None:
        """The credentials a launched target's exporters will send (W3C-style key=value lists)."""
        env = os.environ if env is None else env
        for variable in EXPORTER_HEADER_VARIABLES:
            pairs = [item.split("=", 1) for item in env.get(variable, "").split(",") if "=" in item]
            self.learn((k.strip(), unquote(v.strip())) for k, v in pairs)

    def metadata(self, metadata: Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
        """``metadata`` with the values of sensitive keys replaced (and remembered)."""
        pairs = list(metadata)
        if not self.enabled:
            return pairs
        self.learn(pairs)
        return [(k, REDACTED if self.is_sensitive(str(k)) else self.text(v) if isinstance(v, str) else v)
                for k, v in pairs]

    def text(self, text: str) -> str:
        pattern = self._pattern
        if not self.enabled or pattern is None or not text:
            return text
        return pattern.sub(REDACTED, text)

    def scrub(self, value: Any) -> Any:
        """A JSON-like value with every remembered secret struck from its strings."""
        if not self.enabled or self._pattern is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.scrub(k): self.scrub(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.scrub(v) for v in value)
        return value


"""``--capture-run FILE`` saves a run (pytest owns ``--capture``); ``--replay FILE`` re-judges it offline, same verdicts.

A capture holds everything the collector and the downstream received (raw, with arrival
times), what the target wrote on stdout, and per check the ids it drew and the calls it
made with their outcomes. Replay feeds the checks the same ids and call outcomes and
reveals the telemetry on a virtual clock in the order and at the times it arrived, so
every wait in a check sees what it saw live.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import base64
import gzip
import json
from collections import Counter
from dataclasses import asdict, dataclass, field

import grpc

from otelconform_fixtures.collector import Export, FakeCollector
from otelconform_fixtures.retention import UNCAPPED
from otelconform_fixtures.downstream import ObservedCall
from otelconform_fixtures.target import Ending

from .client import CallResult, ContractCalls
from .redaction import REDACTED

FORMAT = 1
CODES = {c.name: c for c in grpc.StatusCode}


class ReplayDiverged(RuntimeError):
    """The checks asked for something the capture does not have (different suite version?)."""


@dataclass
class CheckTape:
    started_at: float = 0.0
    ids: list[str] = field(default_factory=list)
    calls: list[dict] = field(default_factory=list)


class Recorder:
    """Live side: keeps what each check drew and called."""

    def __init__(self):
        self.tapes: dict[str, CheckTape] = {}
        self.current: CheckTape | None = None

    def begin(self, key: str, now: float) -> None:
        self.current = self.tapes[key] = CheckTape(now)

    def end(self) -> None:
        self.current = None

    def draw(self, make):
        value = make()
        if self.current is not None:
            self.current.ids.append(value)
        return value

    def record_call(self, result: CallResult) -> None:
        if self.current is not None:
            self.current.calls.append(_call_to_json(result))


def _call_to_json(r: CallResult) -> dict:
    return {"method": r.method, "code": r.code.name, "details": r.details, "responses": len(r.responses),
            "started_at": r.started_at, "ended_at": r.ended_at, "metadata_sent": [list(m) for m in r.metadata_sent],
            "refused": r.refused, "message_times": list(r.message_times)}


def save(path: str, suite, recorder: Recorder) -> None:
    """Write the capture; credential-bearing metadata is redacted (export bodies stay as sent:
    replay decodes them byte for byte)."""
    redact = suite.redactor
    document = {
        "format": FORMAT,
        "suite": redact.scrub(suite.meta() | {
            "launched": suite.launched is not None, "service_name": suite.service_name,
            "address": suite.client.address, "protocol": suite.protocol, "probe_calls": suite.probe_calls,
            "exporter_setup": suite.watch.exporter_setup}),
        "ending": asdict(suite.launched.ending) if suite.launched and suite.launched.ending else None,
        "shutdown_ending": asdict(suite.shutdown_ending) if suite.shutdown_ending else None,
        "exports": [{"signal": e.signal, "transport": e.transport, "raw": base64.b64encode(e.raw).decode(),
                     "metadata": [list(m) for m in redact.metadata(e.metadata)], "received_at": e.received_at}
                    for e in suite.collector.exports()],
        "downstream": [{"payload": c.payload, "metadata": [list(m) for m in redact.metadata(c.metadata)],
                        "received_at": c.received_at} for c in suite.downstream.all_calls()],
        "stdout": [redact.text(line) for line in suite.launched.stdout_lines()] if suite.launched is not None else [],
        "checks": {key: {"started_at": t.started_at, "ids": t.ids, "calls": [_redacted_call(c, redact) for c in t.calls]}
                   for key, t in recorder.tapes.items()},
    }
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wt") as out:
        json.dump(document, out)


def _redacted_call(call: dict, redact) -> dict:
    return call | {"metadata_sent": [list(m) for m in redact.metadata(call["metadata_sent"])],
                   "details": redact.text(call["details"])}


def load(path: str) -> dict:
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rt") as src:
            document = json.load(src)
    except (OSError, ValueError) as exc:
        raise ValueError(f"--replay {path}: cannot read the capture: {exc}") from None
    if document.get("format") != FORMAT:
        raise ValueError(f"--replay {path}: capture format {document.get('format')!r}, expected {FORMAT}")
    return document


class VirtualClock:
    def __init__(self, start: float):
        self.now = start
        self._listeners = []

    def on_advance(self, listener) -> None:
        self._listeners.append(listener)

    def advance(self, to: float) -> None:
        if to > self.now:
            self.now = to
            for listener in self._listeners:
                listener(to)


class ReplayCollector(FakeCollector):
    """A collector fed from the capture, revealing each export when the clock reaches it."""

    def __init__(self, exports: list[dict], clock: VirtualClock):
        # The capture holds only what the live collector kept: replay keeps all of it.
        super().__init__(memory_cap_bytes=UNCAPPED)
        self._clock = clock
        self._pending = sorted(
            (Export(e["signal"], e["transport"], base64.b64decode(e["raw"]),
                    tuple(tuple(m) for m in e["metadata"]), e["received_at"], None) for e in exports),
            key=lambda e: e.received_at)
        clock.on_advance(self._reveal)

    def _reveal(self, until: float) -> None:
        while self._pending and self._pending[0].received_at <= until:
            e = self._pending.pop(0)
            self.record(e.signal, e.transport, e.raw, e.metadata, received_at=e.received_at)

    def wait_for(self, condition, timeout: float, signal: str | None = None):
        deadline = self._clock.now + timeout
        while True:
            result = condition()
            if result:
                return result
            if not self._pending or self._pending[0].received_at > deadline:
                self._clock.advance(deadline)
                return condition()
            self._clock.advance(self._pending[0].received_at)

    def start(self):  # nothing to serve
        return self

    def stop(self) -> None:
        pass


class ReplayDownstream:
    def __init__(self, calls: list[dict], clock: VirtualClock):
        self._calls = sorted((ObservedCall(c["payload"], tuple(tuple(m) for m in c["metadata"]), c["received_at"])
                              for c in calls), key=lambda c: c.received_at)
        self._clock = clock
        self.address = "replayed-downstream:0"

    def all_calls(self) -> list[ObservedCall]:
        return [c for c in self._calls if c.received_at <= self._clock.now]

    def wait_for_calls(self, payload: str, count: int, timeout: float) -> list[ObservedCall]:
        deadline = self._clock.now + timeout
        matching = [c for c in self._calls if c.payload == payload and c.received_at <= deadline]
        self._clock.advance(matching[count - 1].received_at if len(matching) >= count else deadline)
        return matching[:count]

    def stop(self) -> None:
        pass


class ReplayTape:
    """Replay side of one check: hands out the recorded ids, in order."""

    def __init__(self, tape: dict):
        self._ids = list(tape["ids"])
        self.calls = list(tape["calls"])

    def draw(self, make):
        if not self._ids:
            raise ReplayDiverged("the check drew more ids than the capture recorded")
        return self._ids.pop(0)


class ReplayClient(ContractCalls):
    """Answers each call with the outcome recorded for it."""

    tls = None  # nothing is connected to

    def __init__(self, address: str, clock: VirtualClock):
        self.address = address
        self.calls_made: Counter = Counter()
        self.history: list[CallResult] = []
        self.tape: ReplayTape | None = None
        self._clock = clock

    def close(self) -> None:
        pass

    def sibling(self, address: str) -> "ReplayClient":
        return self  # one tape, whichever instance a call went to

    def call(self, method, request, metadata=(), timeout=None, cancel_after=None, grpc_timeout=None) -> CallResult:
        if self.tape is None or not self.tape.calls:
            raise ReplayDiverged(f"the check made a {method} call the capture does not have")
        recorded = self.tape.calls.pop(0)
        if recorded["method"] != method or not _same_metadata(metadata, recorded["metadata_sent"]):
            raise ReplayDiverged(f"the check called {method} where the capture has {recorded['method']}")
        result = CallResult(method, CODES[recorded["code"]], recorded["details"], [None] * recorded["responses"],
                            recorded["started_at"], recorded["ended_at"], tuple(metadata),
                            refused=recorded.get("refused", False),
                            message_times=tuple(recorded.get("message_times", ())))
        self._clock.advance(result.ended_at)
        self.calls_made[(method, result.code.name)] += 1
        self.history.append(result)
        return result


def _same_metadata(sent, recorded) -> bool:
    """Whether a replayed call sends what the capture holds; a redacted value matches any."""
    return len(sent) == len(recorded) and all(
        k == rk and (v == rv or rv == REDACTED) for (k, v), (rk, rv) in zip(sent, recorded))


class ReplayedTarget:
    """Stands in for a LaunchedTarget: the command it ran, the stdout it wrote, how it ended."""

    def __init__(self, command: str, lines: list[str], ending: dict | None, clock: VirtualClock):
        self.command, self.lines, self._clock = command, lines, clock
        self.address = "replayed-target:0"
        self._recorded = Ending(**ending) if ending else None
        self.ending: Ending | None = None

    def stdout_lines(self) -> list[str]:
        return list(self.lines)

    def stop(self, grace: float = 10.0) -> Ending | None:
        if self.ending is None and self._recorded is not None:
            self.ending = self._recorded
            # Reveal what the target flushed while it shut down.
            self._clock.advance(self.ending.signalled_at + self.ending.seconds)
        return self.ending

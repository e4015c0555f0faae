"""Zero-contract mode: judging a service through the calls a user names, without the test contract.

With ``--call`` the suite does not ask for ``conformance.v1.Conformance``: it resolves each named
call through the service's reflection (or ``--descriptor-set``: a descriptor set, or a ``.proto``),
makes them with its own trace context, and runs the checks that need nothing else
(``zero_contract=True`` in the catalog). The others are skipped with a reason naming the
contract methods they call.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import inspect
import re
import threading
from dataclasses import dataclass, field

import grpc

from otelconform_fixtures.any_downstream import AnyDownstream

from .client import CallResult, TargetClient
from .named_calls import CallResolutionError, CallSpecError, ResolvedCall, Resolver, invoke, parse_call, what_to_pass
from .verdicts import TargetUnresponsive

__all__ = ["CallResolutionError", "CallSpecError", "NamedCalls", "contract_methods_of", "no_calls_advice"]

# How a check's code reaches each contract method (its own calls and the shared steps in _calls).
_USES = {
    "Echo": r"\becho\b|traced_echo_span|exact_client|echo_burst|w3c",
    "Relay": r"\brelay\w*\(|\"relay\"|downstream",
    "Fail": r"\bfail(ed_call)?\(|\"fail\"|require_fail_handled",
    "Sleep": r"\bsleep\b|untraced_sleep|\"Sleep\"",
    "Log": r"\blog\(|\"log\"|logged_call",
    "StreamEcho": r"stream_echo|StreamEcho",
}


def contract_methods_of(function) -> list[str]:
    """The contract methods a check function calls, read from its source and that of the helpers
    it calls, three levels deep (for a skip reason)."""
    module = inspect.getmodule(function)
    seen, sources, todo = set(), [], [(function, 0)]
    while todo:
        current, depth = todo.pop()
        try:
            source = inspect.getsource(current)
        except (OSError, TypeError):
            continue
        sources.append(source.split("\ndef ", 1)[-1] if source.lstrip().startswith("@") else source)
        if depth < 3:
            for name in set(re.findall(r"\b([a-z_]\w*)\(", sources[-1])) - seen:
                seen.add(name)
                helper = getattr(inspect.getmodule(current) or module, name, None)
                if inspect.isfunction(helper) and helper is not current:
                    todo.append((helper, depth + 1))
    body = "\n".join(sources)
    return [method for method, pattern in _USES.items() if re.search(pattern, body, re.IGNORECASE)]


def skip_reason(function) -> str:
    methods = contract_methods_of(function)
    needs = (f"the contract method{'s' if len(methods) > 1 else ''} {', '.join(methods)}" if methods
             else "the suite's test contract")
    return (f"zero-contract mode: this check needs {needs} (conformance.v1.Conformance, see "
            f"docs/target-contract.md); implement it in a test build of the service to run it")


@dataclass
class NamedCalls:
    """The calls named with --call, resolved against the target, and how to make them."""

    calls: list[ResolvedCall]
    client: TargetClient  # its channel carries the calls, its history records them
    outgoing: ResolvedCall | None = None  # the call that makes the service call its dependency
    downstream: AnyDownstream | None = None  # the dependency, on --downstream-port
    outgoing_turn: threading.Lock = field(default_factory=threading.Lock)  # one outgoing call at a time
    downstream_status: grpc.StatusCode = grpc.StatusCode.OK  # what the downstream answers (--downstream-status)

    @classmethod
    def resolve(cls, client: TargetClient, specs: list[str], outgoing: str | None, descriptor_set: str | None,
                timeout: float) -> "NamedCalls":
        """Raises CallSpecError (a --call that does not parse) or CallResolutionError."""
        parsed = [parse_call(spec) for spec in specs]
        parsed_outgoing = parse_call(outgoing) if outgoing else None
        resolver = _resolver(client, descriptor_set, timeout)
        return cls([resolver.resolve(spec) for spec in parsed], client,
                   resolver.resolve(parsed_outgoing) if parsed_outgoing else None)

    def ending(self, code: grpc.StatusCode) -> list[ResolvedCall]:
        return [call for call in self.calls if call.spec.expected_status == code]

    @property
    def ok(self) -> ResolvedCall | None:
        """The first call expected to end OK: what checks of a plain successful call make."""
        return next(iter(self.ending(grpc.StatusCode.OK)), None)

    def make(self, resolved: ResolvedCall, metadata=(), timeout: float | None = None) -> CallResult:
        outcome = invoke(self.client.channel, resolved, metadata, timeout or self.client.call_timeout)
        return self.client._recorded(CallResult(
            resolved.spec.full_method, outcome.code, outcome.details,
            [outcome.response] if outcome.response is not None else [], outcome.started_at, outcome.ended_at,
            tuple(metadata)))

    def require(self, resolved: ResolvedCall, result: CallResult) -> CallResult:
        """TARGET_ERROR unless the call ended as its --call said."""
        expected = resolved.spec.expected_status
        if result.code != expected:
            raise TargetUnresponsive(
                f"the call {resolved.spec.full_method} (--call {resolved.spec.text!r}) should have ended "
                f"{expected.name} but ended {result.code.name}{f' ({result.details})' if result.details else ''}: "
                f"fix the request, or declare the status it ends with ('-> {result.code.name}')")
        return result


def _resolver(client: TargetClient, descriptor_set: str | None, timeout: float) -> Resolver:
    """The request types of the service's methods: from the descriptor set given (or the .proto,
    compiled), else from its server reflection. Raises CallResolutionError."""
    if descriptor_set and descriptor_set.endswith(".proto"):
        return Resolver.from_proto(descriptor_set)
    if descriptor_set:
        return Resolver.from_descriptor_set(descriptor_set)
    return Resolver.from_reflection(client.channel, timeout, f"the service at {client.address}")


def no_calls_advice(client: TargetClient, descriptor_set: str | None, timeout: float) -> str:
    """For a service without the contract and no --call: what it offers and what to pass."""
    try:
        resolver = _resolver(client, descriptor_set, timeout)
    except CallResolutionError as exc:
        return f"to judge it without the contract, name calls with --call; {exc}"
    return "to judge it without the contract (zero-contract mode), " + what_to_pass(
        resolver, f"the service at {client.address}")

"""Running independent checks concurrently against one target, to keep a full run fast.

Each check owns its trace ids, payloads and (for untraced calls) a distinct Sleep duration,
so most checks can run at once: as soon as the session is up, their bodies start on a thread
pool, and pytest's own call of each check waits for that check's outcome and re-raises it.
A check marked ``exclusive`` (it counts calls, or stops the target) runs the ordinary way,
after every concurrent check has finished. Checks against instances of their own (another
configuration, see instances.py) start once the concurrent checks are over, so their load
(target start-ups, floods of sampled calls) never slows the main instance's timed calls; they
then run beside the exclusive checks, which they cannot disturb. A ``quiet`` check (it times
calls) waits for all of them and runs alone. Capture and replay run one check at a time, so a
replay meets the calls in the order they were recorded.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import functools
import inspect
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait

from .client import RUNNING


@functools.lru_cache(maxsize=None)
def _parameter_names(function) -> frozenset[str]:
    return frozenset(inspect.signature(function).parameters)


class ConcurrentChecks:
    def __init__(self, workers: int):
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="conformance-check")
        self._later_pool = ThreadPoolExecutor(workers, thread_name_prefix="conformance-instance-check")
        self._futures: dict[str, Future] = {}
        self._first: list[Future] = []

    @staticmethod
    def _arguments(item, suite) -> dict | None:
        """The check function's arguments, when they are only the suite and its parameters."""
        params = dict(getattr(getattr(item, "callspec", None), "params", {}))
        names = _parameter_names(item.obj)
        if not names <= {"suite", *params}:
            return None
        return {name: suite if name == "suite" else params[name] for name in names}

    def start(self, items, suite, key_of, eligible, later=lambda item: False) -> None:
        """Run the ``eligible`` checks now, and the ``later`` ones once those are over."""
        deferred = []
        for item in items:
            arguments = self._arguments(item, suite) if eligible(item) or later(item) else None
            if arguments is None:
                continue
            if later(item):
                future = self._futures[item.nodeid] = Future()
                deferred.append((future, item, arguments))
            else:
                self._futures[item.nodeid] = self._pool.submit(self._run, item.obj, arguments, key_of(item))
                self._first.append(self._futures[item.nodeid])
        if deferred:
            threading.Thread(target=self._start_later, args=(deferred, key_of), daemon=True,
                             name="conformance-later").start()

    def _start_later(self, deferred, key_of) -> None:
        wait(self._first)
        for future, item, arguments in deferred:
            inner = self._later_pool.submit(self._run, item.obj, arguments, key_of(item))
            inner.add_done_callback(lambda done, outer=future: outer.set_result(done.result()))

    @staticmethod
    def _run(function, arguments: dict, key: str) -> BaseException | None:
        RUNNING.check = key
        try:
            function(**arguments)
            return None
        except BaseException as exc:  # noqa: BLE001 (pytest's skip and fail outcomes included)
            return exc
        finally:
            RUNNING.check = None

    def runs(self, item) -> bool:
        return item.nodeid in self._futures

    def outcome(self, item) -> BaseException | None:
        return self._futures[item.nodeid].result()

    def drain(self, everything: bool = False) -> None:
        """Wait for the concurrent checks (and, with ``everything``, for those on instances
        of their own too)."""
        wait(self._first)
        if everything:
            wait(list(self._futures.values()))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._later_pool.shutdown(wait=True, cancel_futures=True)

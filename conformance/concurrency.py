"""Running independent checks concurrently against one target, to keep a full run fast.

Each check owns its trace ids, payloads and (for untraced calls) a distinct Sleep duration,
so most checks can run at once: as soon as the session is up, their bodies start on a thread
pool, and pytest's own call of each check waits for that check's outcome and re-raises it.
A check marked ``exclusive`` (it counts calls, or stops the target) runs the ordinary way,
after every concurrent check has finished. Checks against instances of their own (another
configuration, see instances.py) start at once, beside them, since they make a few calls and
mostly wait (for a retry, for silence) - except the two that flood their instance with a
few hundred calls, which start once the concurrent checks are over (their load made a
loaded machine's Python targets end a deadline-bound span late); they then run beside the
exclusive checks. A ``quiet`` check (it times calls) waits for those floods and for the
exclusive checks, and runs alone beside the checks that only wait. Capture and replay run one
check at a time, so a replay meets the calls in the order they were recorded.

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
        self._beside_pool = ThreadPoolExecutor(workers, thread_name_prefix="conformance-instance-check")
        self._futures: dict[str, Future] = {}
        self._first: list[Future] = []
        self._exclusive_over = threading.Event()

    @staticmethod
    def _arguments(item, suite) -> dict | None:
        """The check function's arguments, when they are only the suite and its parameters."""
        params = dict(getattr(getattr(item, "callspec", None), "params", {}))
        names = _parameter_names(item.obj)
        if not names <= {"suite", *params}:
            return None
        return {name: suite if name == "suite" else params[name] for name in names}

    def start(self, items, suite, key_of, eligible, beside=lambda item: False, floods=lambda item: False,
              quiet=lambda item: False) -> None:
        """Run the ``eligible`` checks now, the ``beside`` ones now too (on a pool of their own,
        not waited for by ``drain``), the ``floods`` among them once the ``eligible`` are over,
        and the ``quiet`` ones one at a time once the floods and the exclusive ones are over."""
        flooding, quiet_ones = [], []
        for item in items:
            wanted = eligible(item) or beside(item) or quiet(item)
            arguments = self._arguments(item, suite) if wanted else None
            if arguments is None:
                continue
            if quiet(item) or (beside(item) and floods(item)):
                future = self._futures[item.nodeid] = Future()
                (quiet_ones if quiet(item) else flooding).append((future, item, arguments))
            elif beside(item):
                self._futures[item.nodeid] = self._beside_pool.submit(self._run, item.obj, arguments, key_of(item))
            else:
                self._futures[item.nodeid] = self._pool.submit(self._run, item.obj, arguments, key_of(item))
                self._first.append(self._futures[item.nodeid])
        threading.Thread(target=self._start_later, args=(flooding, quiet_ones, key_of), daemon=True,
                         name="conformance-later").start()

    def exclusive_ones_over(self) -> None:
        """Told by the plugin once pytest has run the exclusive checks (they sort first)."""
        self._exclusive_over.set()

    def _start_later(self, flooding, quiet_ones, key_of) -> None:
        wait(self._first)
        started = []
        for future, item, arguments in flooding:
            inner = self._beside_pool.submit(self._run, item.obj, arguments, key_of(item))
            inner.add_done_callback(lambda done, outer=future: outer.set_result(done.result()))
            started.append(inner)
        if not quiet_ones:
            return
        wait(started)
        self._exclusive_over.wait()
        for future, item, arguments in quiet_ones:
            future.set_result(self._run(item.obj, arguments, key_of(item)))

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

    def drain(self) -> None:
        """Wait for the concurrent checks (not for those on instances of their own)."""
        wait(self._first)

    def close(self) -> None:
        self._exclusive_over.set()  # a session cut short: let a waiting quiet check go
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._beside_pool.shutdown(wait=True, cancel_futures=True)

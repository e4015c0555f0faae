"""More instances of a launched target, each started with another configuration.

A check about an ``OTEL_*`` variable, or about how the exporter copes with a refusing
collector, needs the service started differently from the session's main instance. Such a
check names a ``Configuration`` (``configurations.py``); the session's ``InstancePool``
starts one instance per configuration, with a collector of its own (so that what it
exports, or does not export, is told apart from every other instance's), and every check of
that configuration shares it. In attach mode and in a replay there is no instance to start,
and the check is skipped saying so.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

from otelconform_fixtures.collector import FakeCollector
from otelconform_fixtures.collector_away import AwayPort
from otelconform_fixtures.downstream import DownstreamServer
from otelconform_fixtures.target import LaunchedTarget, TargetError
from otelconform_fixtures.tls import RunCertificates, session_exporter_tls
from otelconform_fixtures.transport_front import TransportFront

from . import ids
from .client import TargetClient
from .contract import KEEP_WHOLE
from .configurations import CONFIGURATIONS, PER_SIGNAL_PATH, Configuration
from .observe import SignalWatch
from .verdicts import TargetUnresponsive

# The export pace of the instances of other configurations. Most of their checks never look
# at metrics (those that do, ENV-030..032 and ENV-040, set a 100 ms interval): a metric
# export a second from twenty instances cost a C reference's run 2 s of JSON decoding.
INSTANCE_PACE = {"OTEL_BSP_SCHEDULE_DELAY": "50", "OTEL_BLRP_SCHEDULE_DELAY": "50",
                 "OTEL_METRIC_EXPORT_INTERVAL": "60000"}


@dataclass
class Instance:
    """One started instance: its collector(s), the process, a client and a watch on its signals."""

    configuration: Configuration
    collector: FakeCollector
    other_collector: FakeCollector | None  # a second receiver, for per-signal endpoints
    target: LaunchedTarget
    client: TargetClient
    watch: SignalWatch
    downstream: DownstreamServer  # its own, so its Relays never count as the main instance's
    env: dict[str, str] = field(default_factory=dict)  # what it was started with, for messages
    away: dict[str, AwayPort] = field(default_factory=dict)  # "grpc"/"http": where the collector will be
    front: TransportFront | None = None  # the one port of both endpoints, for either_transport

    def bring_collector_back(self) -> None:
        """Start the collector where its ports were cutting connections (away_at_start)."""
        if not self.away:
            return
        ports = {kind: port.port for kind, port in self.away.items()}
        for port in self.away.values():
            port.close()
        self.collector.start_on(ports["grpc"])
        self.collector.start_http(ports["http"])
        self.away = {}


class InstancePool:
    """Starts each configuration's instance once, on first need (or ahead, ``prestart``)."""

    def __init__(self, main: LaunchedTarget, base_env: dict[str, str], protocol: str, main_client: TargetClient,
                 ready_timeout: float, telemetry_timeout: float, certs=None):
        self.main, self.base_env, self.protocol = main, base_env, protocol  # each instance: main.another(env)
        self.certs = certs  # the session collector's tls.RunCertificates, under --collector-tls
        self.main_client = main_client
        self.token = ids.new_span_id()  # a secret-looking header value, per session
        self.ready_timeout, self.telemetry_timeout = ready_timeout, telemetry_timeout
        self._started: dict[str, Future] = {}
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(3, thread_name_prefix="conformance-instance")

    def prestart(self, names) -> None:
        for name in names:
            for started in (name, *CONFIGURATIONS[name].companions):
                self._future(started)

    def _future(self, name: str) -> Future:
        with self._lock:
            future = self._started.get(name)
            if future is None:
                future = self._started[name] = self._executor.submit(self._start, CONFIGURATIONS[name])
            return future

    def get(self, name: str) -> Instance:
        """The configuration's instance; TARGET_ERROR when it did not start."""
        try:
            return self._future(name).result()
        except TargetError as exc:
            configuration = CONFIGURATIONS[name]
            raise TargetUnresponsive(f"the service started with {configuration.summary} did not start: {exc}; "
                                     f"a service must start whatever standard OTEL_* variables it is given "
                                     f"(it may ignore one it does not support)") from None

    def _start(self, configuration: Configuration) -> Instance:
        collector = FakeCollector(faults=configuration.faults(), keep_whole=KEEP_WHOLE,
                                  # Any client certificate will do: the impostor wants the data.
                                  tls=RunCertificates(require_client_cert=False) if configuration.impostor_tls else None)
        other = downstream = front = None
        away: dict[str, AwayPort] = {}
        try:
            downstream = DownstreamServer().start()
            if configuration.away_at_start:
                away = {"grpc": AwayPort(), "http": AwayPort()}
            else:
                collector.start()
                collector.start_http()
            if configuration.needs_other_collector:
                other = FakeCollector()
                other.start()
                other.start_http()
            protocol = configuration.protocol or self.protocol
            if configuration.either_transport:
                front = TransportFront(collector.grpc_port, collector.http.port)
                endpoints = {"grpc": f"http://127.0.0.1:{front.port}", "http": f"http://127.0.0.1:{front.port}"}
            elif away:
                endpoints = {kind: f"http://127.0.0.1:{port.port}" for kind, port in away.items()}
            else:
                endpoints = {"grpc": collector.endpoint("grpc"), "http": collector.endpoint("http")}
            places = {"endpoint": endpoints["grpc" if protocol == "grpc" else "http"], "http_endpoint": endpoints["http"],
                      "token": self.token,
                      # Over gRPC a per-signal endpoint is another receiver; over HTTP, a full URL.
                      "traces_endpoint": (other.endpoint("grpc") if protocol == "grpc" and other else
                                          endpoints["http"] + PER_SIGNAL_PATH)}
            # None of these instances' checks waits on a batch timer the way the main
            # instance's hundreds of checks do: the main instance's 5 ms timers, twenty
            # times over, would keep a core busy with idle wake-ups (3-4 % of a core per idle Go
            # instance) and slow every call the suite makes meanwhile.
            env = {**self.base_env, "OTEL_EXPORTER_OTLP_ENDPOINT": places["endpoint"],
                   "OTEL_EXPORTER_OTLP_PROTOCOL": protocol, **INSTANCE_PACE}
            env.update({key: value.format_map(places) for key, value in configuration.env})
            if configuration.impostor_tls:
                env.update(session_exporter_tls(self.certs))
            for path, signal in configuration.http_paths:
                collector.extra_paths[path] = signal
            target = self.main.another(env).start(self.ready_timeout)
        except BaseException:
            collector.stop()
            for port in away.values():
                port.close()
            for server in (other, downstream):
                if server is not None:
                    server.stop()
            if front is not None:
                front.close()
            raise
        watch = SignalWatch(collector, self.telemetry_timeout,
                            f"the service was started with {configuration.summary}")
        return Instance(configuration, collector, other, target, self.main_client.sibling(target.address),
                        watch, downstream, env, away, front)

    def stop_all(self) -> None:
        """Stop every instance at once (in parallel: each may take its exporters' flush)."""
        with self._lock:
            futures = list(self._started.values())
        stoppers = []
        for future in futures:
            try:
                instance = future.result()
            except Exception:  # noqa: BLE001 (it never started: nothing to stop)
                continue
            stopper = threading.Thread(target=self._stop, args=(instance,), daemon=True)
            stopper.start()
            stoppers.append(stopper)
        for stopper in stoppers:
            stopper.join()
        self._executor.shutdown(wait=False)

    @staticmethod
    def _stop(instance: Instance) -> None:
        instance.client.close()
        instance.target.stop(grace=5)
        instance.collector.stop()
        for port in instance.away.values():
            port.close()
        if instance.front is not None:
            instance.front.close()
        instance.downstream.stop()
        if instance.other_collector is not None:
            instance.other_collector.stop()


def instance_for(suite, name: str):
    """The session as seen from configuration ``name``'s instance (its collector, client and
    watch; the shared downstream), so every helper of the checks works on it; or SKIPPED
    saying why there is none. ``.instance`` is the Instance."""
    configuration = CONFIGURATIONS[name]
    if suite.clock is not None:
        pytest.skip(f"not in a replay: this check starts its own instance of the service with "
                    f"{configuration.summary}, which a capture does not hold")
    if suite.instances is None:
        pytest.skip(f"needs --target-cmd: this check starts its own instance of the service with "
                    f"{configuration.summary}")
    instance = suite.instances.get(name)
    return dataclasses.replace(suite, collector=instance.collector, client=instance.client, watch=instance.watch,
                               downstream=instance.downstream, launched=instance.target, spare=None,
                               instance=instance)

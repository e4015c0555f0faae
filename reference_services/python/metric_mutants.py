"""Mutant support: metrics changed on their way to the exporter (see mutants.py)."""
from __future__ import annotations

import dataclasses

from opentelemetry.sdk.metrics import (Counter, Histogram, ObservableCounter, ObservableGauge,
                                       ObservableUpDownCounter, UpDownCounter)
from opentelemetry.sdk.metrics.export import AggregationTemporality, MetricExporter

_DELTA = {kind: AggregationTemporality.DELTA for kind in (Counter, UpDownCounter, Histogram, ObservableCounter,
                                                           ObservableUpDownCounter, ObservableGauge)}


def _labelled_cumulative(metrics_data):
    def metric(m):
        if hasattr(m.data, "aggregation_temporality"):
            return dataclasses.replace(m, data=dataclasses.replace(
                m.data, aggregation_temporality=AggregationTemporality.CUMULATIVE))
        return m

    return dataclasses.replace(metrics_data, resource_metrics=[
        dataclasses.replace(rm, scope_metrics=[dataclasses.replace(sm, metrics=[metric(m) for m in sm.metrics])
                                               for sm in rm.scope_metrics])
        for rm in metrics_data.resource_metrics])


class DeltaLabelledCumulative(MetricExporter):
    """Collects deltas but says they are cumulative, as a misconfigured exporter would."""

    def __init__(self, inner: MetricExporter):
        super().__init__(preferred_temporality=_DELTA)
        self._inner = inner

    def export(self, metrics_data, timeout_millis: float = 10_000, **kwargs):
        return self._inner.export(_labelled_cumulative(metrics_data), timeout_millis=timeout_millis, **kwargs)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self._inner.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs) -> None:
        self._inner.shutdown(timeout_millis=timeout_millis, **kwargs)

//go:build !linux

package telemetry

import "go.opentelemetry.io/otel/metric"

// registerProcessMetrics does nothing off Linux: the memory reading comes
// from /proc, and the reference service is only run on Linux.
func registerProcessMetrics(metric.MeterProvider) error { return nil }

package telemetry

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func TestProcessMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	if err := registerProcessMetrics(mp); err != nil {
		t.Fatal(err)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	found := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			found[m.Name] = m
		}
	}

	cpu, ok := found["process.cpu.time"]
	if !ok || cpu.Unit != "s" {
		t.Fatalf("process.cpu.time = %+v", cpu)
	}
	sum, ok := cpu.Data.(metricdata.Sum[float64])
	if !ok || !sum.IsMonotonic {
		t.Fatalf("process.cpu.time data = %T, want a monotonic float64 sum", cpu.Data)
	}
	// Tick-based CPU accounting can still report zero this early, so only the
	// shape is checked, not that time has passed.
	modes := map[string]float64{}
	for _, p := range sum.DataPoints {
		mode, _ := p.Attributes.Value(attribute.Key("cpu.mode"))
		modes[mode.AsString()] = p.Value
	}
	user, hasUser := modes["user"]
	system, hasSystem := modes["system"]
	if len(modes) != 2 || !hasUser || !hasSystem || user < 0 || system < 0 {
		t.Errorf("process.cpu.time points by cpu.mode = %v, want user and system, non-negative", modes)
	}

	memory, ok := found["process.memory.usage"]
	if !ok || memory.Unit != "By" {
		t.Fatalf("process.memory.usage = %+v", memory)
	}
	usage, ok := memory.Data.(metricdata.Sum[int64])
	if !ok || usage.IsMonotonic || len(usage.DataPoints) != 1 || usage.DataPoints[0].Value <= 0 {
		t.Errorf("process.memory.usage data = %+v, want one positive non-monotonic int64 point", memory.Data)
	}
}

func TestParseStatmResident(t *testing.T) {
	got, err := parseStatmResident("5435 1234 456 123 0 789 0\n", 4096)
	if err != nil || got != 1234*4096 {
		t.Errorf("parseStatmResident = %d, %v; want %d", got, err, 1234*4096)
	}
	for _, bad := range []string{"", "5435", "5435 x"} {
		if _, err := parseStatmResident(bad, 4096); err == nil {
			t.Errorf("parseStatmResident(%q) accepted", bad)
		}
	}
}

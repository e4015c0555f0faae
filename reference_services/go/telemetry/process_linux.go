package telemetry

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// The cpu.mode sets are built once: the callbacks run at every collection.
var (
	cpuUser   = metric.WithAttributeSet(attribute.NewSet(attribute.String("cpu.mode", "user")))
	cpuSystem = metric.WithAttributeSet(attribute.NewSet(attribute.String("cpu.mode", "system")))
)

// registerProcessMetrics adds the semconv process metrics
// (docs/system/process-metrics.md) to mp. They are observable, so they are
// read only when a reader collects, i.e. on the same periodic export as the
// RPC metrics and at no other time.
func registerProcessMetrics(mp metric.MeterProvider) error {
	meter := mp.Meter(ScopeName)
	// Each instrument has its own callback, so a failing read of one source
	// does not cost the other metric its data point.
	_, err := meter.Float64ObservableCounter("process.cpu.time",
		metric.WithUnit("s"),
		metric.WithDescription("Total CPU seconds broken down by different CPU modes."),
		metric.WithFloat64Callback(func(_ context.Context, o metric.Float64Observer) error {
			var ru syscall.Rusage
			if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
				return fmt.Errorf("process.cpu.time: getrusage: %w", err)
			}
			o.Observe(seconds(ru.Utime), cpuUser)
			o.Observe(seconds(ru.Stime), cpuSystem)
			return nil
		}))
	if err != nil {
		return err
	}
	_, err = meter.Int64ObservableUpDownCounter("process.memory.usage",
		metric.WithUnit("By"),
		metric.WithDescription("The amount of physical memory in use."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			rss, err := residentBytes()
			if err != nil {
				return fmt.Errorf("process.memory.usage: %w", err)
			}
			o.Observe(rss)
			return nil
		}))
	return err
}

func seconds(tv syscall.Timeval) float64 { return float64(tv.Nano()) / 1e9 }

// residentBytes is the current resident set size. getrusage's ru_maxrss is
// not usable here: it is the peak, which never goes down.
func residentBytes() (int64, error) {
	statm, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	return parseStatmResident(string(statm), os.Getpagesize())
}

// parseStatmResident reads the second field of /proc/<pid>/statm (resident
// pages, see proc(5)) and converts it to bytes.
func parseStatmResident(statm string, pageSize int) (int64, error) {
	fields := strings.Fields(statm)
	if len(fields) < 2 {
		return 0, fmt.Errorf("/proc/self/statm: %q has no resident field", statm)
	}
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/self/statm: resident field: %w", err)
	}
	return pages * int64(pageSize), nil
}

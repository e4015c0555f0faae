// Package telemetry sets up the OpenTelemetry Go SDK the way the upstream
// getting-started guides do: OTLP exporters for traces, metrics and logs, a
// resource, W3C propagators, and log/slog bridged with otelslog. It is
// configured by the standard OTEL_* variables only; the SDK reads almost all of
// them itself (endpoints, headers, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
// OTEL_BSP_*, OTEL_BLRP_*, OTEL_METRIC_EXPORT_*), autoprop reads
// OTEL_PROPAGATORS, and this package reads OTEL_EXPORTER_OTLP[_<SIGNAL>]_PROTOCOL
// because each Go exporter speaks only one protocol.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"github.com/google/uuid"
	"log/slog"
	"os"
	"strings"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/contrib/propagators/autoprop"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/log/global"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// ScopeName is the instrumentation scope of the service's own log records.
const ScopeName = "conformance.example/reference/go_greeter"

// Config is what the service contributes; everything else comes from OTEL_*.
type Config struct {
	ServiceVersion string
	// SkipPropagator leaves the global propagator at the API's no-op default.
	// Only the no-propagator mutant sets it.
	SkipPropagator bool
}

// Telemetry is the handle Setup returns.
type Telemetry struct {
	Logger    *slog.Logger
	shutdowns []func(context.Context) error
}

// Shutdown flushes and stops all three providers (each SDK Shutdown includes
// a ForceFlush). Call it once, with a deadline.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for _, shutdown := range t.shutdowns {
		errs = append(errs, shutdown(ctx))
	}
	return errors.Join(errs...)
}

// Setup installs the global tracer, meter and logger providers and (unless
// cfg says otherwise) the global propagator, which otelgrpc's stats handlers
// pick up, and makes an otelslog logger the slog default.
func Setup(ctx context.Context, cfg Config) (*Telemetry, error) {
	res, err := resource.Merge(resource.Default(), newResource(ctx, cfg.ServiceVersion))
	if err != nil {
		return nil, fmt.Errorf("resource: %w", err)
	}

	t := &Telemetry{}
	fail := func(what string, err error) (*Telemetry, error) {
		_ = t.Shutdown(ctx)
		return nil, fmt.Errorf("%s: %w", what, err)
	}

	var spanExp sdktrace.SpanExporter
	if protocol("TRACES") == "grpc" {
		spanExp, err = otlptracegrpc.New(ctx)
	} else {
		spanExp, err = otlptracehttp.New(ctx)
	}
	if err != nil {
		return fail("trace exporter", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithBatcher(spanExp))
	t.shutdowns = append(t.shutdowns, tp.Shutdown)
	otel.SetTracerProvider(tp)

	var metricExp sdkmetric.Exporter
	if protocol("METRICS") == "grpc" {
		metricExp, err = otlpmetricgrpc.New(ctx)
	} else {
		metricExp, err = otlpmetrichttp.New(ctx)
	}
	if err != nil {
		return fail("metric exporter", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metricExp)))
	t.shutdowns = append(t.shutdowns, mp.Shutdown)
	otel.SetMeterProvider(mp)

	var logExp sdklog.Exporter
	if protocol("LOGS") == "grpc" {
		logExp, err = otlploggrpc.New(ctx)
	} else {
		logExp, err = otlploghttp.New(ctx)
	}
	if err != nil {
		return fail("log exporter", err)
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithResource(res),
		sdklog.WithProcessor(sdklog.NewBatchProcessor(logExp)))
	t.shutdowns = append(t.shutdowns, lp.Shutdown)
	global.SetLoggerProvider(lp)

	if !cfg.SkipPropagator {
		// OTEL_PROPAGATORS when set, else W3C tracecontext + baggage.
		otel.SetTextMapPropagator(autoprop.NewTextMapPropagator())
	}

	t.Logger = otelslog.NewLogger(ScopeName, otelslog.WithLoggerProvider(lp))
	slog.SetDefault(t.Logger)
	return t, nil
}

// newResource is a fresh service.instance.id (the seed's architecture asks for
// one per process, and the Go SDK makes none), then OTEL_RESOURCE_ATTRIBUTES and
// OTEL_SERVICE_NAME (so a deployment can name the instance), then the
// build's service.version (a later option wins, so the binary's own version
// beats one in the environment), then telemetry.sdk.*. A malformed
// OTEL_RESOURCE_ATTRIBUTES still yields the attributes that parsed, so the
// error is only reported.
func newResource(ctx context.Context, version string) *resource.Resource {
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.instance.id", uuid.NewString())),
		resource.WithFromEnv(),
		resource.WithAttributes(attribute.String("service.version", version)),
		resource.WithTelemetrySDK(),
	)
	if err != nil {
		fmt.Fprintf(os.Stderr, "telemetry: resource: %v\n", err)
	}
	if res == nil {
		res = resource.Empty()
	}
	return res
}

// protocol is OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL, else
// OTEL_EXPORTER_OTLP_PROTOCOL, else grpc (the spec's default is http/protobuf;
// this service defaults to what most collectors are set up for). The Go SDK
// has no http/json exporter, so that falls back to http/protobuf.
func protocol(signal string) string {
	p := strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_" + signal + "_PROTOCOL"))
	if p == "" {
		p = strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL"))
	}
	switch p {
	case "", "grpc":
		return "grpc"
	case "http/protobuf":
		return p
	default:
		fmt.Fprintf(os.Stderr, "telemetry: OTLP protocol %q is not available in Go; using http/protobuf for %s\n",
			p, strings.ToLower(signal))
		return "http/protobuf"
	}
}

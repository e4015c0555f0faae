// Package telemetry is the one place where the Go reference service sets up
// OpenTelemetry: traces, metrics and logs exported over OTLP, the resource,
// the propagators, and the log/slog pipeline (OTel logs bridge plus JSON lines
// on stdout). Setup returns a Telemetry whose Shutdown flushes all three
// signals.
//
// Configuration comes from the standard OTEL_* variables only. The Go SDK
// reads most of them itself (exporter endpoint/headers/timeout/compression,
// OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER[_ARG],
// OTEL_BSP_*, OTEL_BLRP_*, OTEL_METRIC_EXPORT_*). This package handles the ones
// it leaves out: OTEL_PROPAGATORS, OTEL_SDK_DISABLED, the choice of exporter
// by OTEL_EXPORTER_OTLP[_SIGNAL]_PROTOCOL and OTEL_{TRACES,METRICS,LOGS}_EXPORTER.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otellog "go.opentelemetry.io/otel/log"
	lognoop "go.opentelemetry.io/otel/log/noop"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of the service's own log records.
const ScopeName = "conformance.example/reference/go"

// Config is what the service itself contributes; everything else is OTEL_*.
type Config struct {
	ServiceVersion string    // service.version, even when OTEL_RESOURCE_ATTRIBUTES gives one
	Stdout         io.Writer // where the JSON log lines go (os.Stdout when nil)
	Stderr         io.Writer // diagnostics (os.Stderr when nil)
}

// Telemetry holds the providers Setup installed.
type Telemetry struct {
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	LoggerProvider otellog.LoggerProvider
	Propagator     propagation.TextMapPropagator
	Logger         *slog.Logger
	Resource       *resource.Resource // nil when the SDK is disabled

	shutdowns []func(context.Context) error
}

// Shutdown flushes and stops traces, metrics and logs (each SDK provider's
// Shutdown includes a ForceFlush). The three run concurrently, so a signal
// whose export hangs (collector unreachable, retries) cannot eat the others'
// share of ctx's deadline. Call it once, with a deadline.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	errs := make([]error, len(t.shutdowns))
	var wg sync.WaitGroup
	for i, shutdown := range t.shutdowns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = shutdown(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Setup configures OpenTelemetry from the environment, installs the
// providers and the propagator globally, makes the returned slog logger the
// default one, and returns the handle whose Shutdown main must call.
func Setup(ctx context.Context, cfg Config) (*Telemetry, error) {
	if cfg.Stdout == nil {
		cfg.Stdout = os.Stdout
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	diag := func(format string, args ...any) { fmt.Fprintf(cfg.Stderr, "telemetry: "+format+"\n", args...) }
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { diag("%v", err) }))

	t := &Telemetry{}
	prop, warnings := PropagatorsFromEnv(os.Getenv("OTEL_PROPAGATORS"))
	for _, w := range warnings {
		diag("%s", w)
	}
	t.Propagator = prop
	otel.SetTextMapPropagator(prop)

	// OTEL_SDK_DISABLED: only the literal "true" (case-insensitive) disables.
	if strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")), "true") {
		t.TracerProvider = tracenoop.NewTracerProvider()
		t.MeterProvider = metricnoop.NewMeterProvider()
		t.LoggerProvider = lognoop.NewLoggerProvider()
		otel.SetTracerProvider(t.TracerProvider)
		otel.SetMeterProvider(t.MeterProvider)
		serviceName := os.Getenv("OTEL_SERVICE_NAME")
		t.Logger = slog.New(NewJSONLineHandler(cfg.Stdout, serviceName))
		slog.SetDefault(t.Logger)
		return t, nil
	}

	res, err := newResource(ctx, cfg.ServiceVersion)
	if res == nil {
		return nil, fmt.Errorf("resource: %w", err)
	}
	if err != nil {
		diag("resource: %v", err) // partial resource, e.g. a malformed OTEL_RESOURCE_ATTRIBUTES
	}
	t.Resource = res

	fail := func(err error) (*Telemetry, error) {
		_ = t.Shutdown(ctx)
		return nil, err
	}

	// The exporters' first retry comes 5 s after a refusal by default, so telemetry made
	// during a short collector restart waits that long (and a shutdown meanwhile waits out
	// the backoff); a first retry after 1 s (as the Python SDK does), bounded by the export
	// timeout, delivers it sooner. The OTLP spec asks for exponential backoff with jitter,
	// not for particular intervals. Every signal retries alike.
	const firstRetry, longestRetry, retryFor = time.Second, 5 * time.Second, 10 * time.Second
	// Traces. The SDK reads OTEL_TRACES_SAMPLER[_ARG] and OTEL_BSP_* itself.
	tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if exporterEnabled("OTEL_TRACES_EXPORTER", diag) {
		var exp sdktrace.SpanExporter
		switch protocol("TRACES", diag) {
		case "grpc":
			exp, err = otlptracegrpc.New(ctx, append(traceTLSOptions(), otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{
				Enabled: true, InitialInterval: firstRetry, MaxInterval: longestRetry, MaxElapsedTime: retryFor}))...)
		default:
			exp, err = otlptracehttp.New(ctx, otlptracehttp.WithRetry(otlptracehttp.RetryConfig{
				Enabled: true, InitialInterval: firstRetry, MaxInterval: longestRetry, MaxElapsedTime: retryFor}))
		}
		if err != nil {
			return fail(fmt.Errorf("trace exporter: %w", err))
		}
		tpOpts = append(tpOpts, sdktrace.WithBatcher(exp))
	}
	tp := sdktrace.NewTracerProvider(tpOpts...)
	t.TracerProvider = tp
	t.shutdowns = append(t.shutdowns, tp.Shutdown)
	otel.SetTracerProvider(tp)

	// Metrics. The periodic reader reads OTEL_METRIC_EXPORT_INTERVAL/TIMEOUT.
	mpOpts := []sdkmetric.Option{sdkmetric.WithResource(res)}
	if exporterEnabled("OTEL_METRICS_EXPORTER", diag) {
		var exp sdkmetric.Exporter
		switch protocol("METRICS", diag) {
		case "grpc":
			exp, err = otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithRetry(otlpmetricgrpc.RetryConfig{
				Enabled: true, InitialInterval: firstRetry, MaxInterval: longestRetry, MaxElapsedTime: retryFor}))
		default:
			exp, err = otlpmetrichttp.New(ctx, otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{
				Enabled: true, InitialInterval: firstRetry, MaxInterval: longestRetry, MaxElapsedTime: retryFor}))
		}
		if err != nil {
			return fail(fmt.Errorf("metric exporter: %w", err))
		}
		mpOpts = append(mpOpts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)))
	}
	mp := sdkmetric.NewMeterProvider(mpOpts...)
	t.MeterProvider = mp
	t.shutdowns = append(t.shutdowns, mp.Shutdown)
	otel.SetMeterProvider(mp)
	if err := registerProcessMetrics(mp); err != nil {
		diag("process metrics: %v", err) // the RPC metrics do not depend on them
	}

	// Logs. The batch processor reads OTEL_BLRP_*.
	lpOpts := []sdklog.LoggerProviderOption{sdklog.WithResource(res)}
	if exporterEnabled("OTEL_LOGS_EXPORTER", diag) {
		var exp sdklog.Exporter
		switch protocol("LOGS", diag) {
		case "grpc":
			exp, err = otlploggrpc.New(ctx, otlploggrpc.WithRetry(otlploggrpc.RetryConfig{
				Enabled: true, InitialInterval: firstRetry, MaxInterval: longestRetry, MaxElapsedTime: retryFor}))
		default:
			exp, err = otlploghttp.New(ctx, otlploghttp.WithRetry(otlploghttp.RetryConfig{
				Enabled: true, InitialInterval: firstRetry, MaxInterval: longestRetry, MaxElapsedTime: retryFor}))
		}
		if err != nil {
			return fail(fmt.Errorf("log exporter: %w", err))
		}
		lpOpts = append(lpOpts, sdklog.WithProcessor(sdklog.NewBatchProcessor(exp)))
	}
	lp := sdklog.NewLoggerProvider(lpOpts...)
	t.LoggerProvider = lp
	t.shutdowns = append(t.shutdowns, lp.Shutdown)

	serviceName, _ := res.Set().Value("service.name")
	t.Logger = slog.New(slog.NewMultiHandler(
		otelslog.NewHandler(ScopeName, otelslog.WithLoggerProvider(lp)),
		NewJSONLineHandler(cfg.Stdout, serviceName.AsString()),
	))
	slog.SetDefault(t.Logger)
	return t, nil
}

// newResource builds the resource: OTEL_RESOURCE_ATTRIBUTES (percent-decoded
// by the SDK) and OTEL_SERVICE_NAME, then the service's own service.version and
// a fresh service.instance.id, then the telemetry.sdk.* attributes. Without
// OTEL_SERVICE_NAME or a service.name in OTEL_RESOURCE_ATTRIBUTES, service.name
// is the SDK default unknown_service:<exe>.
func newResource(ctx context.Context, version string) (*resource.Resource, error) {
	own := []attribute.KeyValue{
		attribute.String("service.instance.id", uuid.NewString()),
	}
	if version != "" {
		own = append(own, attribute.String("service.version", version))
	}
	// A later detector's attributes replace an earlier one's. The specification
	// makes OTEL_RESOURCE_ATTRIBUTES the secondary resource, so what the
	// service sets in code comes after it. OTEL_SERVICE_NAME still decides
	// service.name because the service never sets that key itself.
	res, err := resource.New(ctx,
		resource.WithFromEnv(),
		resource.WithAttributes(own...),
		resource.WithTelemetrySDK(),
	)
	if res == nil {
		return nil, err
	}
	// resource.Default carries the SDK's default service.name, and reads the
	// environment again: res must win over both.
	merged, mergeErr := resource.Merge(resource.Default(), res)
	if mergeErr != nil {
		return res, errors.Join(err, mergeErr)
	}
	return merged, err
}

// protocol picks the OTLP transport of one signal:
// OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL, then OTEL_EXPORTER_OTLP_PROTOCOL, then
// "grpc". The Go exporters have no http/json.
func protocol(signal string, diag func(string, ...any)) string {
	p := strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_" + signal + "_PROTOCOL"))
	if p == "" {
		p = strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL"))
	}
	switch p {
	case "grpc":
		return "grpc"
	case "":
		// The seed sends all telemetry over OTLP/gRPC, so that is this
		// service's default (the specification's default is http/protobuf).
		return "grpc"
	case "http/protobuf":
		return "http/protobuf"
	default:
		diag("OTLP protocol %q is not supported by the Go exporters; using http/protobuf for %s", p, strings.ToLower(signal))
		return "http/protobuf"
	}
}

// exporterEnabled reads OTEL_{TRACES,METRICS,LOGS}_EXPORTER: unset or "otlp"
// exports over OTLP, "none" exports nothing; anything else is reported and
// treated as "otlp".
func exporterEnabled(variable string, diag func(string, ...any)) bool {
	v := strings.TrimSpace(os.Getenv(variable))
	switch v {
	case "", "otlp":
		return true
	case "none":
		return false
	default:
		diag("%s=%q is not supported; using otlp", variable, v)
		return true
	}
}

//! The one place that configures OpenTelemetry: propagators, resource, the three
//! OTLP/gRPC pipelines and the `tracing` subscriber. [`init`] returns a
//! [`TelemetryHandle`] that `main` shuts down (flush + shutdown of all signals).
//!
//! Standard `OTEL_*` variables only. The Rust SDK reads most of them itself
//! (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER[_ARG]`,
//! `OTEL_BSP_*`, `OTEL_BLRP_*`, `OTEL_METRIC_EXPORT_INTERVAL/TIMEOUT`,
//! `OTEL_EXPORTER_OTLP_*` endpoint/headers/timeout/compression, and
//! `OTEL_EXPORTER_OTLP_[SIGNAL_]PROTOCOL` picks gRPC, http/protobuf or http/json
//! when the exporter builder is not told a transport); this module
//! handles the ones it does not: `OTEL_SDK_DISABLED`, `OTEL_PROPAGATORS`,
//! `OTEL_{TRACES,METRICS,LOGS}_EXPORTER`.
use std::env;
use std::time::Duration;

use opentelemetry::propagation::{TextMapCompositePropagator, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{global, KeyValue};
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::resource::{
    EnvResourceDetector, ResourceDetector, SdkProvidedResourceDetector, TelemetryResourceDetector,
};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

use crate::applog::{ExtraAttributesProcessor, JsonStdoutLayer};
use crate::otel_grpc::propagation::{W3cBaggagePropagator, W3cTraceContextPropagator};

#[cfg(target_os = "linux")]
mod process;

const APP_TARGET: &str = env!("CARGO_CRATE_NAME");

/// Owns the SDK providers; call [`TelemetryHandle::shutdown`] before exiting.
pub struct TelemetryHandle {
    tracer_provider: Option<SdkTracerProvider>,
    meter_provider: Option<SdkMeterProvider>,
    logger_provider: Option<SdkLoggerProvider>,
    pub service_name: String,
}

fn env_value(name: &str) -> Option<String> {
    env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// `OTEL_SDK_DISABLED`: a boolean, true only for "true" (case-insensitive).
fn sdk_disabled() -> bool {
    env_value("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Builds the propagator named by `OTEL_PROPAGATORS` (default `tracecontext,baggage`),
/// from the reference's own W3C propagators (the SDK's break W3C rules, see
/// [`crate::otel_grpc::propagation`]).
pub fn propagator_from_env(value: Option<&str>) -> TextMapCompositePropagator {
    let value = value.unwrap_or("tracecontext,baggage");
    let mut list: Vec<Box<dyn TextMapPropagator + Send + Sync>> = Vec::new();
    let mut seen = Vec::new();
    for name in value.split(',').map(|s| s.trim().to_ascii_lowercase()) {
        if name.is_empty() || seen.contains(&name) {
            continue;
        }
        seen.push(name.clone());
        match name.as_str() {
            "tracecontext" => list.push(Box::new(W3cTraceContextPropagator::new())),
            "baggage" => list.push(Box::new(W3cBaggagePropagator::new())),
            "none" => {}
            other => {
                eprintln!("telemetry: OTEL_PROPAGATORS value {other:?} is not supported; ignored")
            }
        }
    }
    if seen.iter().any(|n| n == "none") {
        list.clear();
    }
    TextMapCompositePropagator::new(list)
}

/// `OTEL_{SIGNAL}_EXPORTER`: only `otlp` (default) and `none` are supported.
fn exporter_enabled(signal: &str) -> bool {
    let var = format!("OTEL_{signal}_EXPORTER");
    match env_value(&var).map(|v| v.to_ascii_lowercase()) {
        None => true,
        Some(v) if v == "none" => false,
        Some(v) => {
            if v != "otlp" {
                eprintln!("telemetry: {var}={v} is not supported; using otlp");
            }
            true
        }
    }
}

/// The seed mandates OTLP over gRPC, so gRPC is the default when neither
/// `OTEL_EXPORTER_OTLP_{SIGNAL}_PROTOCOL` nor `OTEL_EXPORTER_OTLP_PROTOCOL` is set
/// (the SDK's own default with the HTTP feature built in would be http/protobuf).
/// When one is set, the exporter builder's env-based transport selection applies.
fn protocol_configured(signal: &str) -> bool {
    env_value(&format!("OTEL_EXPORTER_OTLP_{signal}_PROTOCOL")).is_some()
        || env_value("OTEL_EXPORTER_OTLP_PROTOCOL").is_some()
}

/// service.name (OTEL_SERVICE_NAME wins over OTEL_RESOURCE_ATTRIBUTES),
/// service.version (crate version) and service.instance.id (a UUID made at
/// start) unless OTEL_RESOURCE_ATTRIBUTES gives them, plus telemetry.sdk.*.
pub fn build_resource() -> Resource {
    let detectors: [Box<dyn ResourceDetector>; 3] = [
        Box::new(TelemetryResourceDetector),
        Box::new(EnvResourceDetector::new()),
        Box::new(SdkProvidedResourceDetector),
    ];
    Resource::builder_empty()
        .with_attributes([
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            KeyValue::new("service.instance.id", uuid::Uuid::new_v4().to_string()),
        ])
        .with_detectors(&detectors)
        .build()
}

/// Installs everything. Call it from a blocking thread that has the tokio
/// runtime's context (`tokio::task::spawn_blocking`): the gRPC exporters spawn
/// their connection tasks on the runtime, and the HTTP exporters' blocking
/// client must not be created on an async worker.
pub fn init() -> TelemetryHandle {
    let disabled = sdk_disabled();
    // Propagation is API-level and stays on even with OTEL_SDK_DISABLED, so a
    // disabled service still passes context through.
    global::set_text_map_propagator(propagator_from_env(
        env_value("OTEL_PROPAGATORS").as_deref(),
    ));

    let resource = build_resource();
    let service_name = resource
        .get(&opentelemetry::Key::new("service.name"))
        .map(|v| v.to_string())
        .unwrap_or_else(|| "unknown_service".into());

    let mut handle = TelemetryHandle {
        tracer_provider: None,
        meter_provider: None,
        logger_provider: None,
        service_name: service_name.clone(),
    };

    if !disabled {
        // Spans are always recorded (ids, sampling, propagation of a *new* parent
        // id); OTEL_TRACES_EXPORTER=none only leaves out the exporter.
        let mut builder = SdkTracerProvider::builder().with_resource(resource.clone());
        if exporter_enabled("TRACES") {
            let exporter = if protocol_configured("TRACES") {
                opentelemetry_otlp::SpanExporter::builder().build()
            } else {
                opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .build()
            };
            match exporter {
                Ok(exporter) => builder = builder.with_batch_exporter(exporter),
                Err(e) => eprintln!("telemetry: trace exporter: {e}"),
            }
        }
        let provider = builder.build();
        global::set_tracer_provider(provider.clone());
        handle.tracer_provider = Some(provider);
        if exporter_enabled("METRICS") {
            let exporter = if protocol_configured("METRICS") {
                opentelemetry_otlp::MetricExporter::builder().build()
            } else {
                opentelemetry_otlp::MetricExporter::builder()
                    .with_tonic()
                    .build()
            };
            match exporter {
                Ok(exporter) => {
                    // PeriodicReader reads OTEL_METRIC_EXPORT_INTERVAL/TIMEOUT itself.
                    let reader = PeriodicReader::builder(exporter).build();
                    let provider = SdkMeterProvider::builder()
                        .with_reader(reader)
                        .with_resource(resource.clone())
                        .build();
                    #[cfg(target_os = "linux")]
                    process::register(&provider);
                    global::set_meter_provider(provider.clone());
                    handle.meter_provider = Some(provider);
                }
                Err(e) => eprintln!("telemetry: metric exporter: {e}"),
            }
        }
        if exporter_enabled("LOGS") {
            let exporter = if protocol_configured("LOGS") {
                opentelemetry_otlp::LogExporter::builder().build()
            } else {
                opentelemetry_otlp::LogExporter::builder()
                    .with_tonic()
                    .build()
            };
            match exporter {
                Ok(exporter) => {
                    let provider = SdkLoggerProvider::builder()
                        .with_log_processor(ExtraAttributesProcessor)
                        .with_batch_exporter(exporter)
                        .with_resource(resource.clone())
                        .build();
                    handle.logger_provider = Some(provider);
                }
                Err(e) => eprintln!("telemetry: log exporter: {e}"),
            }
        }
    }

    // Application events at every level; other crates' warnings and errors only.
    // The OTel crates and the gRPC stack never feed the OTLP bridge (no loops).
    let app_only = Targets::new()
        .with_target(APP_TARGET, LevelFilter::TRACE)
        .with_default(LevelFilter::WARN);
    let to_otlp = Targets::new()
        .with_target(APP_TARGET, LevelFilter::TRACE)
        .with_target("opentelemetry", LevelFilter::OFF)
        .with_target("opentelemetry_sdk", LevelFilter::OFF)
        .with_target("opentelemetry_otlp", LevelFilter::OFF)
        .with_target("tonic", LevelFilter::OFF)
        .with_target("h2", LevelFilter::OFF)
        .with_target("hyper", LevelFilter::OFF)
        .with_target("hyper_util", LevelFilter::OFF)
        .with_target("tower", LevelFilter::OFF)
        .with_default(LevelFilter::WARN);
    let otel_logs = handle
        .logger_provider
        .as_ref()
        .map(|p| OpenTelemetryTracingBridge::new(p).with_filter(to_otlp));
    // tracing spans created by application code become OTel spans in the same
    // trace (children of the gRPC server span); library spans are not exported.
    let otel_spans = handle.tracer_provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer(APP_TARGET))
            .with_filter(Targets::new().with_target(APP_TARGET, LevelFilter::INFO))
    });
    let subscriber = tracing_subscriber::registry()
        .with(JsonStdoutLayer::new(service_name).with_filter(app_only))
        .with(otel_logs)
        .with(otel_spans);
    if tracing::subscriber::set_global_default(subscriber).is_err() {
        eprintln!("telemetry: a tracing subscriber was already installed");
    }
    handle
}

impl TelemetryHandle {
    /// Flushes and shuts down all three signals. Blocking: call it from a
    /// blocking thread while the tokio runtime is still alive.
    pub fn shutdown(self) {
        let timeout = Duration::from_secs(5);
        if let Some(p) = self.tracer_provider {
            if let Err(e) = p.force_flush() {
                eprintln!("telemetry: trace flush: {e}");
            }
            if let Err(e) = p.shutdown_with_timeout(timeout) {
                eprintln!("telemetry: trace shutdown: {e}");
            }
        }
        if let Some(p) = self.logger_provider {
            if let Err(e) = p.force_flush() {
                eprintln!("telemetry: log flush: {e}");
            }
            if let Err(e) = p.shutdown_with_timeout(timeout) {
                eprintln!("telemetry: log shutdown: {e}");
            }
        }
        if let Some(p) = self.meter_provider {
            if let Err(e) = p.force_flush() {
                eprintln!("telemetry: metric flush: {e}");
            }
            if let Err(e) = p.shutdown_with_timeout(timeout) {
                eprintln!("telemetry: metric shutdown: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(p: &TextMapCompositePropagator) -> Vec<String> {
        let mut f: Vec<String> = p.fields().map(str::to_string).collect();
        f.sort();
        f
    }

    #[test]
    fn default_propagators() {
        assert_eq!(
            fields(&propagator_from_env(None)),
            vec!["baggage", "traceparent", "tracestate"]
        );
    }

    #[test]
    fn propagators_from_env() {
        assert_eq!(
            fields(&propagator_from_env(Some("baggage"))),
            vec!["baggage"]
        );
        assert!(fields(&propagator_from_env(Some("none"))).is_empty());
        assert_eq!(
            fields(&propagator_from_env(Some(" tracecontext , b3 "))),
            vec!["traceparent", "tracestate"]
        );
    }
}

//! The one place that configures OpenTelemetry: propagators, resource, the three
//! OTLP/gRPC pipelines and the `tracing` subscriber. [`init`] returns a
//! [`TelemetryHandle`] that `main` shuts down (flush + shutdown of all signals).
//!
//! Standard `OTEL_*` variables only. The Rust SDK reads most of them itself
//! (`OTEL_TRACES_SAMPLER[_ARG]`, `OTEL_BSP_*`, `OTEL_BLRP_*`,
//! `OTEL_METRIC_EXPORT_INTERVAL/TIMEOUT`,
//! `OTEL_EXPORTER_OTLP_*` endpoint/headers/timeout/compression, and
//! `OTEL_EXPORTER_OTLP_[SIGNAL_]PROTOCOL` picks gRPC, http/protobuf or http/json
//! when the exporter builder is not told a transport); this module
//! handles the ones it does not: `OTEL_SDK_DISABLED`, `OTEL_PROPAGATORS`,
//! `OTEL_{TRACES,METRICS,LOGS}_EXPORTER`, and the resource variables
//! `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SERVICE_NAME` (see [`build_resource`]).
use std::env;
use std::time::Duration;

use opentelemetry::propagation::{TextMapCompositePropagator, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{global, KeyValue};
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::resource::{ResourceDetector, TelemetryResourceDetector};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use percent_encoding::percent_decode_str;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

use crate::applog::{ExtraAttributesProcessor, JsonStdoutLayer};
use crate::otel_grpc::propagation::{W3cBaggagePropagator, W3cTraceContextPropagator};

#[cfg(target_os = "linux")]
mod process;
mod retry;

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

/// Whether the exporter built for `signal` speaks gRPC (tonic): always when no
/// protocol is configured (see [`protocol_configured`]); otherwise as the
/// exporter builder resolves it, the first of the signal's variable and the
/// general one that holds a known value, or else its feature default (HTTP).
fn uses_grpc(signal: &str) -> bool {
    if !protocol_configured(signal) {
        return true;
    }
    for var in [
        format!("OTEL_EXPORTER_OTLP_{signal}_PROTOCOL"),
        "OTEL_EXPORTER_OTLP_PROTOCOL".to_string(),
    ] {
        match env::var(var).map(|v| v.to_ascii_lowercase()).as_deref() {
            Ok("grpc") => return true,
            Ok("http/protobuf" | "http/json") => return false,
            _ => {}
        }
    }
    false
}

/// The OTLP exporter timeout for `signal` as opentelemetry-otlp reads it:
/// `OTEL_EXPORTER_OTLP_{SIGNAL}_TIMEOUT`, then `OTEL_EXPORTER_OTLP_TIMEOUT`
/// (milliseconds), else 10 s.
fn export_timeout(signal: &str) -> Duration {
    [
        format!("OTEL_EXPORTER_OTLP_{signal}_TIMEOUT"),
        "OTEL_EXPORTER_OTLP_TIMEOUT".to_string(),
    ]
    .iter()
    .find_map(|var| env::var(var).ok().and_then(|v| v.parse().ok()))
    .map(Duration::from_millis)
    .unwrap_or(Duration::from_secs(10))
}

const SERVICE_NAME: &str = "service.name";

/// The members of an `OTEL_RESOURCE_ATTRIBUTES` value, `key=value` separated by
/// commas, values percent-decoded. The SDK's own `EnvResourceDetector` keeps the
/// encoding, which the specification's W3C Baggage format rules out. Malformed
/// members are reported and left out; the others still apply.
pub fn parse_resource_attributes(value: &str) -> Vec<KeyValue> {
    let mut attributes = Vec::new();
    for member in value.split(',') {
        if member.trim().is_empty() {
            continue; // a trailing or doubled comma carries nothing to report
        }
        let Some((key, value)) = member.split_once('=') else {
            eprintln!("telemetry: OTEL_RESOURCE_ATTRIBUTES member {member:?} has no '='; ignored");
            continue;
        };
        let key = key.trim();
        if key.is_empty() {
            eprintln!("telemetry: OTEL_RESOURCE_ATTRIBUTES member {member:?} has no key; ignored");
            continue;
        }
        match percent_decode_str(value.trim()).decode_utf8() {
            Ok(decoded) => attributes.push(KeyValue::new(key.to_string(), decoded.into_owned())),
            Err(_) => eprintln!(
                "telemetry: OTEL_RESOURCE_ATTRIBUTES value of {key:?} is not UTF-8 once decoded; ignored"
            ),
        }
    }
    attributes
}

/// The SDK's fallback service.name (resource/sdk.md: `unknown_service:` and the
/// executable's name). Not taken from `SdkProvidedResourceDetector`, which
/// would read the undecoded `OTEL_RESOURCE_ATTRIBUTES` again.
fn default_service_name() -> String {
    env::current_exe()
        .ok()
        .and_then(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .map(|name| format!("unknown_service:{name}"))
        })
        .unwrap_or_else(|| "unknown_service".into())
}

/// The resource from `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SERVICE_NAME`; see
/// [`resource_from`].
pub fn build_resource() -> Resource {
    resource_from(
        env::var("OTEL_RESOURCE_ATTRIBUTES").ok().as_deref(),
        env_value("OTEL_SERVICE_NAME").as_deref(),
        env!("CARGO_PKG_VERSION"),
    )
}

/// Builds the resource; each layer replaces the keys of the ones before it:
/// telemetry.sdk.* and the fallback service.name, then `resource_attributes`
/// (`OTEL_RESOURCE_ATTRIBUTES`, merged as the secondary resource as
/// resource/sdk.md requires, so it never replaces what the service sets), then
/// the service's own service.version and service.instance.id, and last
/// `service_name` (`OTEL_SERVICE_NAME` takes precedence over a service.name in
/// `OTEL_RESOURCE_ATTRIBUTES`).
fn resource_from(
    resource_attributes: Option<&str>,
    service_name: Option<&str>,
    version: &str,
) -> Resource {
    let sdk: [Box<dyn ResourceDetector>; 1] = [Box::new(TelemetryResourceDetector)];
    Resource::builder_empty()
        .with_detectors(&sdk)
        .with_service_name(default_service_name())
        .with_attributes(
            resource_attributes
                .map(parse_resource_attributes)
                .unwrap_or_default(),
        )
        .with_attributes([
            KeyValue::new("service.version", version.to_string()),
            KeyValue::new("service.instance.id", uuid::Uuid::new_v4().to_string()),
        ])
        .with_attributes(service_name.map(|name| KeyValue::new(SERVICE_NAME, name.to_string())))
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
        .get(&opentelemetry::Key::new(SERVICE_NAME))
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
                // Over gRPC, transport failures are retried here (see retry.rs).
                Ok(exporter) if uses_grpc("TRACES") => {
                    builder = builder.with_batch_exporter(retry::TransportRetry::new(
                        exporter,
                        export_timeout("TRACES"),
                    ))
                }
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
    // The filters wrap the optional layers, never the other way round: an absent
    // layer (`None`, as with OTEL_SDK_DISABLED) declares interest in every callsite,
    // which would switch on every trace event of h2, hyper and tonic and make the
    // disabled service slower than the instrumented one (measured: 7-11 % per call).
    let otel_logs = handle
        .logger_provider
        .as_ref()
        .map(OpenTelemetryTracingBridge::new)
        .with_filter(to_otlp);
    // tracing spans created by application code become OTel spans in the same
    // trace (children of the gRPC server span); library spans are not exported.
    let otel_spans = handle
        .tracer_provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer(APP_TARGET)))
        .with_filter(Targets::new().with_target(APP_TARGET, LevelFilter::INFO));
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

    fn attribute(resource: &Resource, key: &'static str) -> Option<String> {
        resource
            .get(&opentelemetry::Key::from_static_str(key))
            .map(|v| v.to_string())
    }

    #[test]
    fn resource_attributes_are_percent_decoded() {
        let parsed = parse_resource_attributes(
            " a = set%20from%20env ,b=x=y,,noequals,=nokey,c=%E2%82%AC,bad=%FF,d=100%,e=",
        );
        let pairs: Vec<(String, String)> = parsed
            .iter()
            .map(|kv| (kv.key.to_string(), kv.value.to_string()))
            .collect();
        let expected = [
            ("a", "set from env"),
            ("b", "x=y"),
            ("c", "\u{20ac}"),
            ("d", "100%"),
            ("e", ""),
        ];
        assert_eq!(
            pairs,
            expected
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn resource_precedence() {
        let env = "deployment.environment.name=conformance,conformance.marker=set%20from%20env,\
                   service.name=name-from-resource-attributes,service.version=version-from-env";
        let resource = resource_from(Some(env), Some("name-from-service-name"), "9.9.9");
        assert_eq!(
            attribute(&resource, "service.name").as_deref(),
            Some("name-from-service-name")
        );
        assert_eq!(
            attribute(&resource, "service.version").as_deref(),
            Some("9.9.9")
        );
        assert_eq!(
            attribute(&resource, "deployment.environment.name").as_deref(),
            Some("conformance")
        );
        assert_eq!(
            attribute(&resource, "conformance.marker").as_deref(),
            Some("set from env")
        );
        assert_eq!(
            attribute(&resource, "telemetry.sdk.language").as_deref(),
            Some("rust")
        );
        assert!(attribute(&resource, "service.instance.id").is_some_and(|id| !id.is_empty()));

        let resource = resource_from(Some("service.name=from%20attributes"), None, "9.9.9");
        assert_eq!(
            attribute(&resource, "service.name").as_deref(),
            Some("from attributes")
        );

        let resource = resource_from(None, None, "9.9.9");
        assert!(
            attribute(&resource, "service.name").is_some_and(|n| n.starts_with("unknown_service"))
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

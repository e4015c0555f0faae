//! OpenTelemetry instrumentation for tonic (there is no official one).
//!
//! A self-contained pair of `tower` layers that depends only on `opentelemetry`
//! (API), `http`, `http-body`, `tower`, `tonic` and `percent-encoding`, so it can
//! be lifted into another service unchanged:
//!
//! * [`ServerLayer`]: extracts W3C context from the request metadata (joining
//!   repeated values, see [`metadata`]), starts a SERVER span named
//!   `package.Service/Method`, keeps it current while the handler (and a streamed
//!   response body) is polled, ends it when the gRPC status is known (trailers,
//!   trailers-only headers, or cancellation) and records `rpc.server.duration`.
//! * [`ClientLayer`]: wraps a `tonic::transport::Channel`; starts a CLIENT span as
//!   a child of the current context, injects it into the outgoing metadata and
//!   records `rpc.client.duration`.
//! * [`propagation`]: W3C `tracecontext` and `baggage` propagators to install
//!   globally in place of the SDK's, which break W3C rules.
//!
//! Attributes follow the legacy ("seed") RPC semantic conventions by default:
//! `rpc.system`, `rpc.service`, `rpc.method`, `rpc.grpc.status_code` (int), plus
//! `server.address`/`server.port` on client spans; durations in milliseconds
//! (`rpc.server.duration`, `rpc.client.duration`). `OTEL_SEMCONV_STABILITY_OPT_IN=rpc`
//! switches to the current conventions (semconv 1.44: `rpc.system.name`,
//! fully-qualified `rpc.method`, `rpc.response.status_code` as a name, `error.type`
//! on failures, `rpc.{server,client}.call.duration` in seconds); `rpc/dup` emits both.
//!
//! Span status: server spans are ERROR only for UNKNOWN, DEADLINE_EXCEEDED,
//! UNIMPLEMENTED, INTERNAL, UNAVAILABLE and DATA_LOSS; client spans are ERROR for
//! every non-OK code.
//!
//! Tracer, meter and propagator come from the `opentelemetry::global` registry at
//! the time the layer is built, so install the SDK first.
pub mod metadata;
pub mod propagation;

mod body;
mod client;
mod server;

pub use body::TracedBody;
pub use client::{ClientLayer, ClientService};
#[allow(unused_imports)]
pub use server::{ServerLayer, ServerService};

use std::sync::Arc;
use std::time::Instant;

use opentelemetry::metrics::Histogram;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt};
use opentelemetry::{Context, InstrumentationScope, KeyValue};

/// Instrumentation scope name used for the tracer and the meter.
pub const SCOPE_NAME: &str = "otel-grpc-tonic";

pub(crate) mod attr {
    pub const RPC_SYSTEM: &str = "rpc.system";
    pub const RPC_SERVICE: &str = "rpc.service";
    pub const RPC_METHOD: &str = "rpc.method";
    pub const RPC_GRPC_STATUS_CODE: &str = "rpc.grpc.status_code";
    pub const RPC_SYSTEM_NAME: &str = "rpc.system.name";
    pub const RPC_RESPONSE_STATUS_CODE: &str = "rpc.response.status_code";
    pub const ERROR_TYPE: &str = "error.type";
    pub const SERVER_ADDRESS: &str = "server.address";
    pub const SERVER_PORT: &str = "server.port";
}

/// Which RPC semantic conventions to emit (`OTEL_SEMCONV_STABILITY_OPT_IN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Semconv {
    /// Legacy names (semconv <= 1.38), the default.
    Old,
    /// Current names (`rpc`).
    Stable,
    /// Both (`rpc/dup`); where a key is shared (`rpc.method`) the current value wins.
    Dup,
}

impl Semconv {
    pub fn from_env() -> Semconv {
        Semconv::parse(
            std::env::var("OTEL_SEMCONV_STABILITY_OPT_IN")
                .ok()
                .as_deref(),
        )
    }

    pub fn parse(value: Option<&str>) -> Semconv {
        let tokens: Vec<String> = value
            .unwrap_or("")
            .split(',')
            .map(|t| t.trim().to_ascii_lowercase())
            .collect();
        if tokens.iter().any(|t| t == "rpc/dup") {
            Semconv::Dup
        } else if tokens.iter().any(|t| t == "rpc") {
            Semconv::Stable
        } else {
            Semconv::Old
        }
    }

    pub fn emits_old(self) -> bool {
        matches!(self, Semconv::Old | Semconv::Dup)
    }

    pub fn emits_new(self) -> bool {
        matches!(self, Semconv::Stable | Semconv::Dup)
    }
}

pub(crate) fn scope(semconv: Semconv) -> InstrumentationScope {
    let builder = InstrumentationScope::builder(SCOPE_NAME).with_version(env!("CARGO_PKG_VERSION"));
    match semconv {
        Semconv::Old => builder.with_schema_url("https://opentelemetry.io/schemas/1.26.0"),
        Semconv::Stable => builder.with_schema_url("https://opentelemetry.io/schemas/1.44.0"),
        Semconv::Dup => builder,
    }
    .build()
}

/// Advisory buckets of `rpc.*.call.duration` (seconds).
const CALL_DURATION_BUCKETS_S: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The duration histograms of one side (server or client) for the chosen conventions.
pub(crate) struct Instruments {
    pub semconv: Semconv,
    old: Option<Histogram<f64>>,
    new: Option<Histogram<f64>>,
}

impl Instruments {
    pub fn new(semconv: Semconv, side: &str) -> Instruments {
        let meter = opentelemetry::global::meter_with_scope(scope(semconv));
        let old = semconv.emits_old().then(|| {
            meter
                .f64_histogram(format!("rpc.{side}.duration"))
                .with_unit("ms")
                .with_description(format!("Measures the duration of {side} RPC calls."))
                .build()
        });
        let new = semconv.emits_new().then(|| {
            meter
                .f64_histogram(format!("rpc.{side}.call.duration"))
                .with_unit("s")
                .with_description(format!("Measures the duration of {side} RPC calls."))
                .with_boundaries(CALL_DURATION_BUCKETS_S.to_vec())
                .build()
        });
        Instruments { semconv, old, new }
    }
}

/// gRPC status codes as integers (`tonic::Code as i32`).
pub mod code {
    pub const OK: i32 = 0;
    pub const CANCELLED: i32 = 1;
    pub const UNKNOWN: i32 = 2;
    pub const DEADLINE_EXCEEDED: i32 = 4;
    pub const UNIMPLEMENTED: i32 = 12;
    pub const INTERNAL: i32 = 13;
    pub const UNAVAILABLE: i32 = 14;
    pub const DATA_LOSS: i32 = 15;
}

/// Whether a server span ends with status ERROR for this gRPC code.
pub fn server_code_is_error(c: i32) -> bool {
    matches!(
        c,
        code::UNKNOWN
            | code::DEADLINE_EXCEEDED
            | code::UNIMPLEMENTED
            | code::INTERNAL
            | code::UNAVAILABLE
            | code::DATA_LOSS
    )
}

/// Whether a client span ends with status ERROR for this gRPC code.
pub fn client_code_is_error(c: i32) -> bool {
    c != code::OK
}

/// `package.Service` and `Method` from a gRPC path `/package.Service/Method`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcName {
    pub service: String,
    pub method: String,
}

impl RpcName {
    pub fn parse(path: &str) -> Option<RpcName> {
        let rest = path.strip_prefix('/')?;
        let (service, method) = rest.split_once('/')?;
        if service.is_empty() || method.is_empty() || method.contains('/') {
            return None;
        }
        Some(RpcName {
            service: service.to_string(),
            method: method.to_string(),
        })
    }

    /// Span name: `package.Service/Method`.
    pub fn span_name(&self) -> String {
        format!("{}/{}", self.service, self.method)
    }

    /// Attributes known when the call starts.
    pub fn attributes(&self, semconv: Semconv) -> Vec<KeyValue> {
        let mut attrs = Vec::with_capacity(4);
        if semconv.emits_old() {
            attrs.push(KeyValue::new(attr::RPC_SYSTEM, "grpc"));
            attrs.push(KeyValue::new(attr::RPC_SERVICE, self.service.clone()));
        }
        if semconv.emits_new() {
            attrs.push(KeyValue::new(attr::RPC_SYSTEM_NAME, "grpc"));
            attrs.push(KeyValue::new(attr::RPC_METHOD, self.span_name()));
        } else {
            attrs.push(KeyValue::new(attr::RPC_METHOD, self.method.clone()));
        }
        attrs
    }
}

/// Reads `grpc-status` / `grpc-message` from a header or trailer map.
pub(crate) fn grpc_status_of(map: &http::HeaderMap) -> Option<(i32, String)> {
    let code = map
        .get("grpc-status")?
        .to_str()
        .ok()?
        .trim()
        .parse::<i32>()
        .ok()?;
    let message = map
        .get("grpc-message")
        .map(|v| metadata::decode_grpc_message(v.as_bytes()))
        .unwrap_or_default();
    Some((code, message))
}

/// Everything needed to finish one instrumented call exactly once.
pub(crate) struct CallState {
    pub cx: Context,
    pub kind: SpanKind,
    pub rpc: RpcName,
    pub start: Instant,
    pub deadline: Option<Instant>,
    pub instruments: Arc<Instruments>,
    pub extra_metric_attrs: Arc<Vec<KeyValue>>,
}

impl CallState {
    /// Status when the call is abandoned before a gRPC status was seen: the
    /// deadline passed (DEADLINE_EXCEEDED) or the peer/caller cancelled it.
    pub fn dropped_status(&self) -> (i32, String) {
        match self.deadline {
            Some(d) if Instant::now() >= d => (code::DEADLINE_EXCEEDED, "deadline exceeded".into()),
            _ => (code::CANCELLED, "call cancelled".into()),
        }
    }

    pub fn finish(self, grpc_code: i32, message: &str) {
        let elapsed = self.start.elapsed().as_secs_f64();
        let semconv = self.instruments.semconv;
        let is_error = match self.kind {
            SpanKind::Client => client_code_is_error(grpc_code),
            _ => server_code_is_error(grpc_code),
        };
        let mut end_attrs = Vec::with_capacity(3);
        if semconv.emits_old() {
            end_attrs.push(KeyValue::new(attr::RPC_GRPC_STATUS_CODE, grpc_code as i64));
        }
        if semconv.emits_new() {
            end_attrs.push(KeyValue::new(
                attr::RPC_RESPONSE_STATUS_CODE,
                code_name(grpc_code),
            ));
            if is_error {
                end_attrs.push(KeyValue::new(attr::ERROR_TYPE, code_name(grpc_code)));
            }
        }
        let span = self.cx.span();
        span.set_attributes(end_attrs.iter().cloned());
        if is_error {
            let description = if message.is_empty() {
                code_name(grpc_code).to_string()
            } else {
                message.to_string()
            };
            span.set_status(Status::error(description));
        }
        span.end();

        let mut attrs = self.rpc.attributes(semconv);
        attrs.extend(end_attrs);
        attrs.extend(self.extra_metric_attrs.iter().cloned());
        if let Some(h) = &self.instruments.old {
            h.record(elapsed * 1000.0, &attrs);
        }
        if let Some(h) = &self.instruments.new {
            h.record(elapsed, &attrs);
        }
    }
}

/// Canonical name of a gRPC status code.
pub fn code_name(c: i32) -> &'static str {
    match c {
        0 => "OK",
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_grpc_paths() {
        let n = RpcName::parse("/conformance.v1.Conformance/Echo").unwrap();
        assert_eq!(n.service, "conformance.v1.Conformance");
        assert_eq!(n.method, "Echo");
        assert_eq!(n.span_name(), "conformance.v1.Conformance/Echo");
        assert_eq!(RpcName::parse("/"), None);
        assert_eq!(RpcName::parse("/a/b/c"), None);
        assert_eq!(RpcName::parse("a/b"), None);
    }

    #[test]
    fn semconv_opt_in() {
        assert_eq!(Semconv::parse(None), Semconv::Old);
        assert_eq!(Semconv::parse(Some("http")), Semconv::Old);
        assert_eq!(Semconv::parse(Some("http, rpc")), Semconv::Stable);
        assert_eq!(Semconv::parse(Some("rpc,rpc/dup")), Semconv::Dup);
        let n = RpcName::parse("/conformance.v1.Conformance/Echo").unwrap();
        let keys = |s| {
            n.attributes(s)
                .into_iter()
                .map(|kv| (kv.key.to_string(), kv.value.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            keys(Semconv::Old),
            vec![
                ("rpc.system".into(), "grpc".into()),
                ("rpc.service".into(), "conformance.v1.Conformance".into()),
                ("rpc.method".into(), "Echo".into())
            ]
        );
        assert_eq!(
            keys(Semconv::Stable),
            vec![
                ("rpc.system.name".into(), "grpc".into()),
                (
                    "rpc.method".into(),
                    "conformance.v1.Conformance/Echo".into()
                )
            ]
        );
        assert_eq!(keys(Semconv::Dup).len(), 4);
    }

    #[test]
    fn span_status_rules() {
        let server_errors: Vec<i32> = (0..=16).filter(|c| server_code_is_error(*c)).collect();
        assert_eq!(server_errors, vec![2, 4, 12, 13, 14, 15]);
        let client_errors: Vec<i32> = (0..=16).filter(|c| client_code_is_error(*c)).collect();
        assert_eq!(client_errors, (1..=16).collect::<Vec<_>>());
    }

    #[test]
    fn reads_status_from_trailers() {
        let mut m = http::HeaderMap::new();
        assert_eq!(grpc_status_of(&m), None);
        m.insert("grpc-status", "5".parse().unwrap());
        m.insert("grpc-message", "no%20such%20thing".parse().unwrap());
        assert_eq!(grpc_status_of(&m), Some((5, "no such thing".into())));
    }
}

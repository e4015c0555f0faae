//! OpenTelemetry instrumentation for tonic (there is no official one).
//!
//! A self-contained pair of `tower` layers that depends only on `opentelemetry`
//! (API), `http`, `http-body`, `tower` and `tonic`, so it can be lifted into
//! another service unchanged:
//!
//! * [`ServerLayer`]: extracts W3C context from the request metadata (joining
//!   repeated values, see [`metadata`]), starts a SERVER span named
//!   `package.Service/Method`, keeps it current while the handler (and a streamed
//!   response body) is polled, ends it when the gRPC status is known (trailers,
//!   trailers-only headers, or cancellation) and records `rpc.server.duration`.
//! * [`ClientLayer`]: wraps a `tonic::transport::Channel`; starts a CLIENT span as
//!   a child of the current context, injects it into the outgoing metadata and
//!   records `rpc.client.duration`.
//!
//! Attributes follow the legacy ("seed") RPC semantic conventions: `rpc.system`,
//! `rpc.service`, `rpc.method`, `rpc.grpc.status_code` (int), plus
//! `server.address`/`server.port` on client spans; durations are in milliseconds.
//!
//! Span status: server spans are ERROR only for UNKNOWN, DEADLINE_EXCEEDED,
//! UNIMPLEMENTED, INTERNAL, UNAVAILABLE and DATA_LOSS; client spans are ERROR for
//! every non-OK code.
//!
//! Tracer, meter and propagator come from the `opentelemetry::global` registry at
//! the time the layer is built, so install the SDK first.
pub mod metadata;

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
    pub const SERVER_ADDRESS: &str = "server.address";
    pub const SERVER_PORT: &str = "server.port";
}

pub(crate) fn scope() -> InstrumentationScope {
    InstrumentationScope::builder(SCOPE_NAME)
        .with_version(env!("CARGO_PKG_VERSION"))
        .with_schema_url("https://opentelemetry.io/schemas/1.26.0")
        .build()
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

    fn attributes(&self) -> Vec<KeyValue> {
        vec![
            KeyValue::new(attr::RPC_SYSTEM, "grpc"),
            KeyValue::new(attr::RPC_SERVICE, self.service.clone()),
            KeyValue::new(attr::RPC_METHOD, self.method.clone()),
        ]
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
    pub histogram: Arc<Histogram<f64>>,
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
        let elapsed_ms = self.start.elapsed().as_secs_f64() * 1000.0;
        let span = self.cx.span();
        span.set_attribute(KeyValue::new(attr::RPC_GRPC_STATUS_CODE, grpc_code as i64));
        let is_error = match self.kind {
            SpanKind::Client => client_code_is_error(grpc_code),
            _ => server_code_is_error(grpc_code),
        };
        if is_error {
            let description = if message.is_empty() {
                code_name(grpc_code).to_string()
            } else {
                message.to_string()
            };
            span.set_status(Status::error(description));
        }
        span.end();

        let mut attrs = self.rpc.attributes();
        attrs.push(KeyValue::new(attr::RPC_GRPC_STATUS_CODE, grpc_code as i64));
        attrs.extend(self.extra_metric_attrs.iter().cloned());
        self.histogram.record(elapsed_ms, &attrs);
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

//! W3C propagators (`tracecontext`, `baggage`) used instead of the SDK's.
//!
//! The SDK's (0.33) are lenient where the W3C specs are strict and lossy where
//! they must forward unchanged; each module says where. They depend on the
//! `opentelemetry` API only, and expect a carrier that presents repeated headers
//! the W3C way (see [`super::metadata::MetadataExtractor`]): one value per key,
//! list headers already combined, a repeated `traceparent` absent.
mod baggage;
mod trace_context;
pub mod w3c;

pub use baggage::W3cBaggagePropagator;
pub use trace_context::W3cTraceContextPropagator;

/// Removes optional whitespace (spaces and horizontal tabs only, as HTTP defines it).
pub fn trim_ows(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

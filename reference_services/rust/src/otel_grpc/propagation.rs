//! W3C Trace Context with the Level 2 *random* flag kept.
//!
//! The SDK's `TraceContextPropagator` (0.33) clears every flag but *sampled* when
//! it extracts, and injects only *sampled*; W3C Trace Context Level 2 says that
//! when the incoming `traceparent` has the random flag (0x02), every outgoing
//! `traceparent` with the same trace-id MUST have it too
//! (open-telemetry/opentelemetry-rust#3270). This wrapper remembers the flag in
//! the extracted `Context` and sets it again on injection for that trace-id. It
//! also leaves out an empty `tracestate` header, which the SDK would send.
use opentelemetry::propagation::{
    text_map_propagator::FieldIter, Extractor, Injector, TextMapPropagator,
};
use opentelemetry::trace::{TraceContextExt, TraceFlags, TraceId};
use opentelemetry::Context;
use opentelemetry_sdk::propagation::TraceContextPropagator;

const TRACEPARENT: &str = "traceparent";
const RANDOM: u8 = 0x02;

/// Marks a trace whose incoming `traceparent` carried the random flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RandomTraceId(TraceId);

/// `tracecontext` propagator that also propagates the Level 2 random flag.
#[derive(Debug, Default)]
pub struct TraceContextL2Propagator {
    inner: TraceContextPropagator,
}

impl TraceContextL2Propagator {
    pub fn new() -> Self {
        Self::default()
    }
}

/// The flags byte of a `traceparent` value (fourth field).
fn raw_flags(traceparent: &str) -> Option<u8> {
    let flags = traceparent.trim().split('-').nth(3)?;
    if flags.len() != 2 {
        return None;
    }
    u8::from_str_radix(flags, 16).ok()
}

/// Drops an empty `tracestate` (the SDK always sets the header, even when empty).
struct SkipEmptyTracestate<'a>(&'a mut dyn Injector);

impl Injector for SkipEmptyTracestate<'_> {
    fn set(&mut self, key: &str, value: String) {
        if key == "tracestate" && value.is_empty() {
            return;
        }
        self.0.set(key, value);
    }
}

impl TextMapPropagator for TraceContextL2Propagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        self.inner
            .inject_context(cx, &mut SkipEmptyTracestate(&mut *injector));
        let span = cx.span();
        let sc = span.span_context();
        if sc.is_valid()
            && cx
                .get::<RandomTraceId>()
                .is_some_and(|r| r.0 == sc.trace_id())
        {
            let flags = (sc.trace_flags() & TraceFlags::SAMPLED).to_u8() | RANDOM;
            injector.set(
                TRACEPARENT,
                format!("00-{}-{}-{:02x}", sc.trace_id(), sc.span_id(), flags),
            );
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let out = self.inner.extract_with_context(cx, extractor);
        let random = {
            let span = out.span();
            let sc = span.span_context();
            let header = extractor.get(TRACEPARENT).unwrap_or("");
            let same_trace = header.split('-').nth(1) == Some(&sc.trace_id().to_string()[..]);
            (sc.is_valid()
                && sc.is_remote()
                && same_trace
                && raw_flags(header).is_some_and(|f| f & RANDOM != 0))
            .then(|| RandomTraceId(sc.trace_id()))
        };
        match random {
            Some(r) => out.with_value(r),
            None => out,
        }
    }

    fn fields(&self) -> FieldIter<'_> {
        self.inner.fields()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, SpanId, TraceState};
    use std::collections::HashMap;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    fn extract(flags: &str) -> Context {
        let mut carrier = HashMap::new();
        carrier.insert(
            TRACEPARENT.to_string(),
            format!("00-{TRACE}-00f067aa0ba902b7-{flags}"),
        );
        TraceContextL2Propagator::new().extract(&carrier)
    }

    /// What a child span (same trace, new span id) injects downstream.
    fn child_traceparent(parent: &Context, sampled: bool) -> String {
        let sc = parent.span().span_context().clone();
        let flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        let child = SpanContext::new(
            sc.trace_id(),
            SpanId::from(0x1234),
            flags,
            false,
            TraceState::default(),
        );
        let cx = parent.with_remote_span_context(child);
        let mut out = HashMap::new();
        TraceContextL2Propagator::new().inject_context(&cx, &mut out);
        out.remove(TRACEPARENT).unwrap()
    }

    #[test]
    fn random_flag_is_kept() {
        assert_eq!(
            child_traceparent(&extract("03"), true),
            format!("00-{TRACE}-0000000000001234-03")
        );
        assert_eq!(
            child_traceparent(&extract("02"), false),
            format!("00-{TRACE}-0000000000001234-02")
        );
    }

    #[test]
    fn no_random_flag_stays_off() {
        assert_eq!(
            child_traceparent(&extract("01"), true),
            format!("00-{TRACE}-0000000000001234-01")
        );
        assert_eq!(
            child_traceparent(&extract("00"), false),
            format!("00-{TRACE}-0000000000001234-00")
        );
    }

    #[test]
    fn other_trace_ids_do_not_inherit_the_flag() {
        let parent = extract("03");
        let other = SpanContext::new(
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
            SpanId::from(0x99),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        );
        let cx = parent.with_remote_span_context(other);
        let mut out = HashMap::new();
        TraceContextL2Propagator::new().inject_context(&cx, &mut out);
        assert!(out[TRACEPARENT].ends_with("-01"));
    }

    #[test]
    fn empty_tracestate_is_not_sent() {
        let mut out = HashMap::new();
        TraceContextL2Propagator::new().inject_context(&extract("01"), &mut out);
        assert!(out.contains_key(TRACEPARENT));
        assert!(!out.contains_key("tracestate"));
    }

    #[test]
    fn invalid_traceparent_adds_nothing() {
        let cx = extract("zz");
        assert!(!cx.span().span_context().is_valid());
        assert!(cx.get::<RandomTraceId>().is_none());
    }
}

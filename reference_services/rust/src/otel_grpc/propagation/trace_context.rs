//! The `tracecontext` propagator: W3C Trace Context with the strict parsing of
//! [`super::w3c`], the Level 2 *random* flag kept, and a `tracestate` forwarded
//! even when the API's `TraceState` cannot hold all of it.
//!
//! It replaces the SDK's `TraceContextPropagator` (0.33) rather than wrapping it
//! because both halves need the raw header: the SDK clears every flag but
//! *sampled* on extraction, while Level 2 says an outgoing `traceparent` with the
//! same trace-id MUST keep the random flag (0x02) (open-telemetry/opentelemetry-rust#3270);
//! and `TraceState` validates keys with the SDK's off-by-one rule, so a valid
//! `tenant@system` key with a 14-character system id cannot be stored in it at all.
//! Both facts are therefore kept in the extracted `Context` next to the span
//! context and used again when injecting for that trace-id.
use opentelemetry::propagation::{
    text_map_propagator::FieldIter, Extractor, Injector, TextMapPropagator,
};
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry::Context;

use super::w3c::{parse_traceparent, parse_tracestate};

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";
const RANDOM: u8 = 0x02;

/// What the SDK's `SpanContext` loses about an extracted remote parent.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RemoteParent {
    trace_id: TraceId,
    random: bool,
    /// The validated incoming list, as it is to be forwarded.
    tracestate: String,
    /// What the span context got: the members `TraceState` accepts. Spans copy it
    /// from their parent, so as long as it is unchanged nobody has edited the
    /// list and the full one can be sent; a sampler that edits it wins.
    sdk_tracestate: TraceState,
}

/// `tracecontext` propagator (`traceparent` + `tracestate`).
#[derive(Debug)]
pub struct W3cTraceContextPropagator {
    fields: [String; 2],
}

impl Default for W3cTraceContextPropagator {
    fn default() -> Self {
        Self {
            fields: [TRACEPARENT.to_string(), TRACESTATE.to_string()],
        }
    }
}

impl W3cTraceContextPropagator {
    pub fn new() -> Self {
        Self::default()
    }
}

/// The members `TraceState` accepts, so samplers and exported spans still see
/// them; one member it refuses would otherwise make it refuse the whole list.
fn sdk_view(members: &[(&str, &str)]) -> TraceState {
    let accepted = members
        .iter()
        .filter(|(k, v)| TraceState::from_key_value([(*k, *v)]).is_ok());
    TraceState::from_key_value(accepted.copied()).unwrap_or_default()
}

impl TextMapPropagator for W3cTraceContextPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let sc = span.span_context();
        if !sc.is_valid() {
            return;
        }
        let remote = cx
            .get::<RemoteParent>()
            .filter(|r| r.trace_id == sc.trace_id());
        let mut flags = (sc.trace_flags() & TraceFlags::SAMPLED).to_u8();
        if remote.is_some_and(|r| r.random) {
            flags |= RANDOM;
        }
        injector.set(
            TRACEPARENT,
            format!("00-{}-{}-{flags:02x}", sc.trace_id(), sc.span_id()),
        );
        let tracestate = match remote {
            Some(r) if r.sdk_tracestate == *sc.trace_state() => r.tracestate.clone(),
            _ => sc.trace_state().header(),
        };
        // An empty header is noise (the SDK sends one).
        if !tracestate.is_empty() {
            injector.set(TRACESTATE, tracestate);
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let Some(tp) = extractor.get(TRACEPARENT).and_then(parse_traceparent) else {
            // An invalid traceparent also voids tracestate.
            return cx.clone();
        };
        let members = extractor
            .get(TRACESTATE)
            .and_then(parse_tracestate)
            .unwrap_or_default();
        let sdk_tracestate = sdk_view(&members);
        let sc = SpanContext::new(
            tp.trace_id,
            tp.span_id,
            // Level 1: other flags are not ours to interpret; random is handled above.
            TraceFlags::new(tp.flags) & TraceFlags::SAMPLED,
            true,
            sdk_tracestate.clone(),
        );
        let remote = RemoteParent {
            trace_id: tp.trace_id,
            random: tp.flags & RANDOM != 0,
            tracestate: members
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(","),
            sdk_tracestate,
        };
        cx.with_remote_span_context(sc).with_value(remote)
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&self.fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otel_grpc::metadata::{MetadataExtractor, MetadataInjector};
    use http::HeaderMap;
    use opentelemetry::trace::SpanId;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    /// Extracts from gRPC metadata given as `(key, value)` pairs in wire order.
    fn extract(pairs: &[(&str, &str)]) -> Context {
        let ex = MetadataExtractor::from_pairs(pairs.iter().map(|(k, v)| (*k, Some(*v))));
        W3cTraceContextPropagator::new().extract(&ex)
    }

    /// What a child span (same trace, new span id, the parent's trace state) injects.
    fn child_headers(parent: &Context, sampled: bool) -> HeaderMap {
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
            sc.trace_state().clone(),
        );
        let cx = parent.with_remote_span_context(child);
        let mut out = HeaderMap::new();
        W3cTraceContextPropagator::new().inject_context(&cx, &mut MetadataInjector(&mut out));
        out
    }

    fn header<'a>(h: &'a HeaderMap, key: &str) -> Option<&'a str> {
        h.get(key).map(|v| v.to_str().unwrap())
    }

    fn child_traceparent(parent: &Context, sampled: bool) -> String {
        header(&child_headers(parent, sampled), TRACEPARENT)
            .unwrap()
            .to_string()
    }

    fn with_flags(flags: &str) -> Context {
        extract(&[(TRACEPARENT, &format!("00-{TRACE}-00f067aa0ba902b7-{flags}"))])
    }

    #[test]
    fn random_flag_is_kept() {
        assert_eq!(
            child_traceparent(&with_flags("03"), true),
            format!("00-{TRACE}-0000000000001234-03")
        );
        assert_eq!(
            child_traceparent(&with_flags("02"), false),
            format!("00-{TRACE}-0000000000001234-02")
        );
    }

    #[test]
    fn no_random_flag_stays_off() {
        assert_eq!(
            child_traceparent(&with_flags("01"), true),
            format!("00-{TRACE}-0000000000001234-01")
        );
        assert_eq!(
            child_traceparent(&with_flags("00"), false),
            format!("00-{TRACE}-0000000000001234-00")
        );
    }

    #[test]
    fn other_trace_ids_do_not_inherit_the_flag_or_tracestate() {
        let parent = extract(&[
            (TRACEPARENT, &format!("00-{TRACE}-00f067aa0ba902b7-03")),
            (TRACESTATE, "foo=1"),
        ]);
        let other = SpanContext::new(
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
            SpanId::from(0x99),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        );
        let cx = parent.with_remote_span_context(other);
        let mut out = HeaderMap::new();
        W3cTraceContextPropagator::new().inject_context(&cx, &mut MetadataInjector(&mut out));
        assert!(header(&out, TRACEPARENT).unwrap().ends_with("-01"));
        assert_eq!(header(&out, TRACESTATE), None);
    }

    #[test]
    fn empty_tracestate_is_not_sent() {
        let out = child_headers(&with_flags("01"), true);
        assert!(out.contains_key(TRACEPARENT));
        assert!(!out.contains_key(TRACESTATE));
    }

    #[test]
    fn invalid_traceparent_adds_nothing() {
        let cx = extract(&[(TRACEPARENT, "00-zz"), (TRACESTATE, "foo=1")]);
        assert!(!cx.span().span_context().is_valid());
        assert!(cx.get::<RemoteParent>().is_none());
        let mut out = HeaderMap::new();
        W3cTraceContextPropagator::new().inject_context(&cx, &mut MetadataInjector(&mut out));
        assert!(out.is_empty());
    }

    #[test]
    fn version_of_wrong_length_starts_a_new_trace() {
        let rest = "-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        for version in ["0", "000", "0000"] {
            let cx = extract(&[
                (TRACEPARENT, &format!("{version}{rest}")),
                (TRACESTATE, "foo=1"),
            ]);
            assert!(!cx.span().span_context().is_valid(), "version {version:?}");
        }
    }

    #[test]
    fn fourteen_char_system_id_is_forwarded() {
        let key = format!("{}@{}", "t".repeat(241), "v".repeat(14));
        let second = format!("{key}=1");
        let cx = extract(&[
            (TRACEPARENT, TP),
            (TRACESTATE, "foo=1"),
            (TRACESTATE, &second),
        ]);
        assert!(cx.span().span_context().is_valid());
        // The SDK's TraceState still sees what it can hold.
        assert_eq!(cx.span().span_context().trace_state().header(), "foo=1");
        let out = child_headers(&cx, true);
        assert_eq!(
            header(&out, TRACESTATE),
            Some(&format!("foo=1,{second}")[..])
        );
    }

    #[test]
    fn tracestate_values_combine_in_order_with_ows_trimmed() {
        let cx = extract(&[
            (TRACEPARENT, TP),
            (TRACESTATE, "foo=1 ,\t"),
            (TRACESTATE, ""),
            (TRACESTATE, " bar=2\t,baz=3"),
        ]);
        let out = child_headers(&cx, true);
        assert_eq!(header(&out, TRACESTATE), Some("foo=1,bar=2,baz=3"));
    }

    #[test]
    fn invalid_tracestate_is_discarded_whole() {
        let members: Vec<String> = (0..32).map(|i| format!("k{i}=v")).collect();
        let thirty_two = members.join(",");
        let long_key = format!("{}=1", "k".repeat(257));
        let cases: Vec<Vec<&str>> = vec![
            vec!["foo=1", "FOO=1"],
            vec!["foo =1"],
            vec!["foo.bar=1,foo=1"],
            vec!["@foo=1"],
            vec!["foo=bar=baz"],
            vec!["foo=1,bar="],
            vec!["foo=1", &long_key],
            vec![&thirty_two, "k32=v"],
        ];
        for values in cases {
            let mut pairs = vec![(TRACEPARENT, TP)];
            pairs.extend(values.iter().map(|v| (TRACESTATE, *v)));
            let cx = extract(&pairs);
            assert!(cx.span().span_context().is_valid(), "{values:?}");
            let out = child_headers(&cx, true);
            assert_eq!(header(&out, TRACESTATE), None, "{values:?}");
        }
        // Exactly 32 members is still fine.
        let cx = extract(&[(TRACEPARENT, TP), (TRACESTATE, &thirty_two)]);
        assert_eq!(
            header(&child_headers(&cx, true), TRACESTATE),
            Some(&thirty_two[..])
        );
    }

    #[test]
    fn uppercase_and_repeated_traceparent_start_a_new_trace() {
        let cx = extract(&[(TRACEPARENT, &TP.to_uppercase())]);
        assert!(!cx.span().span_context().is_valid());
        let cx = extract(&[(TRACEPARENT, TP), (TRACEPARENT, TP), (TRACESTATE, "foo=1")]);
        assert!(!cx.span().span_context().is_valid());
    }

    #[test]
    fn edited_tracestate_wins_over_the_incoming_one() {
        let cx = extract(&[(TRACEPARENT, TP), (TRACESTATE, "foo=1")]);
        let sc = cx.span().span_context().clone();
        let edited = sc.trace_state().insert("mine", "x").unwrap();
        let child = SpanContext::new(
            sc.trace_id(),
            SpanId::from(7),
            sc.trace_flags(),
            false,
            edited,
        );
        let mut out = HeaderMap::new();
        W3cTraceContextPropagator::new().inject_context(
            &cx.with_remote_span_context(child),
            &mut MetadataInjector(&mut out),
        );
        assert_eq!(header(&out, TRACESTATE), Some("mine=x,foo=1"));
    }

    #[test]
    fn fields_are_the_two_headers() {
        let p = W3cTraceContextPropagator::new();
        assert_eq!(
            p.fields().collect::<Vec<_>>(),
            vec![TRACEPARENT, TRACESTATE]
        );
    }
}

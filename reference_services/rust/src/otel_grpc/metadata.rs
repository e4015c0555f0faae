//! W3C context carriers over gRPC metadata (HTTP/2 headers).
//!
//! `opentelemetry`'s stock `HeaderExtractor` returns only the *first* value of a
//! repeated header. Over gRPC a repeated metadata key behaves like a repeated HTTP
//! header, so this extractor joins the values the way the W3C specs require:
//!
//! * `traceparent` is single-valued: two or more values make it invalid, and the
//!   extractor then reports it as missing, so the receiver starts a new trace (and
//!   ignores `tracestate`, which the propagator only reads with a valid parent).
//! * every other key (`tracestate`, `baggage`, ...) is a list: the values are
//!   combined in order with `,`; empty values are skipped.
//!
//! Leading/trailing optional whitespace (spaces, tabs) around each value is
//! trimmed. Binary (`-bin`) metadata and values that are not visible ASCII are
//! ignored.
//!
//! Whether a value is valid is the propagators' business
//! ([`super::propagation`]), so that they hold with any carrier.
use std::collections::HashMap;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::{Extractor, Injector};

use super::propagation::trim_ows;

/// Metadata keys that must appear at most once; a repeated value makes them invalid.
pub const SINGLE_VALUED_KEYS: &[&str] = &["traceparent"];

/// Joined, read-only view of request metadata for `TextMapPropagator::extract`.
#[derive(Debug, Default, Clone)]
pub struct MetadataExtractor {
    values: HashMap<String, String>,
}

impl MetadataExtractor {
    /// Builds the view from HTTP/2 headers (gRPC metadata).
    pub fn new(headers: &HeaderMap) -> Self {
        Self::from_pairs(
            headers
                .iter()
                .map(|(name, value)| (name.as_str(), value.to_str().ok())),
        )
    }

    /// Builds the view from `(key, value)` pairs in wire order; a `None` value
    /// stands for a value that is not valid visible ASCII.
    pub fn from_pairs<'a, I>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (&'a str, Option<&'a str>)>,
    {
        // key -> (number of values seen, non-empty trimmed values in order)
        let mut seen: HashMap<String, (usize, Vec<&'a str>)> = HashMap::new();
        let mut order: Vec<String> = Vec::new();
        for (name, value) in pairs {
            let key = name.to_ascii_lowercase();
            if key.ends_with("-bin") {
                continue;
            }
            let entry = seen.entry(key.clone()).or_insert_with(|| {
                order.push(key);
                (0, Vec::new())
            });
            entry.0 += 1;
            if let Some(v) = value {
                let v = trim_ows(v);
                if !v.is_empty() {
                    entry.1.push(v);
                }
            }
        }
        let mut values = HashMap::with_capacity(seen.len());
        for key in order {
            let (count, vals) = seen.remove(&key).unwrap_or_default();
            if SINGLE_VALUED_KEYS.contains(&key.as_str()) {
                // Exactly one usable value, or the header is treated as absent.
                if count == 1 && vals.len() == 1 {
                    values.insert(key, vals[0].to_string());
                }
                continue;
            }
            if !vals.is_empty() {
                values.insert(key, vals.join(","));
            }
        }
        MetadataExtractor { values }
    }
}

impl Extractor for MetadataExtractor {
    fn get(&self, key: &str) -> Option<&str> {
        match self.values.get(key) {
            Some(v) => Some(v.as_str()),
            None => self
                .values
                .get(&key.to_ascii_lowercase())
                .map(String::as_str),
        }
    }

    fn keys(&self) -> Vec<&str> {
        self.values.keys().map(String::as_str).collect()
    }
}

/// Writes propagation fields into outgoing request metadata, replacing any value
/// already present for the same key (never appending a second `traceparent`).
pub struct MetadataInjector<'a>(pub &'a mut HeaderMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        let Ok(name) = HeaderName::from_bytes(key.to_ascii_lowercase().as_bytes()) else {
            return;
        };
        let Ok(value) = HeaderValue::from_str(&value) else {
            return;
        };
        self.0.insert(name, value);
    }
}

/// Parses the `grpc-timeout` header (`<1-8 digits><H|M|S|m|u|n>`).
pub fn parse_grpc_timeout(headers: &HeaderMap) -> Option<std::time::Duration> {
    parse_grpc_timeout_value(headers.get("grpc-timeout")?.to_str().ok()?)
}

/// Parses one `grpc-timeout` value.
pub fn parse_grpc_timeout_value(raw: &str) -> Option<std::time::Duration> {
    use std::time::Duration;
    if raw.len() < 2 || raw.len() > 9 {
        return None;
    }
    let (digits, unit) = raw.split_at(raw.len() - 1);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Decodes a percent-encoded `grpc-message` value.
pub fn decode_grpc_message(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' && i + 2 < raw.len() {
            let hex = std::str::from_utf8(&raw[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otel_grpc::propagation::{W3cBaggagePropagator, W3cTraceContextPropagator};
    use opentelemetry::baggage::BaggageExt;
    use opentelemetry::propagation::{TextMapCompositePropagator, TextMapPropagator};
    use opentelemetry::trace::TraceContextExt;

    const TP1: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const TP2: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn propagator() -> TextMapCompositePropagator {
        TextMapCompositePropagator::new(vec![
            Box::new(W3cTraceContextPropagator::new()),
            Box::new(W3cBaggagePropagator::new()),
        ])
    }

    #[test]
    fn single_traceparent_is_kept() {
        let ex = MetadataExtractor::new(&headers(&[("traceparent", TP1)]));
        assert_eq!(ex.get("traceparent"), Some(TP1));
    }

    #[test]
    fn two_traceparents_are_invalid() {
        let ex = MetadataExtractor::new(&headers(&[("traceparent", TP1), ("traceparent", TP2)]));
        assert_eq!(ex.get("traceparent"), None);
        // Even two identical values are invalid.
        let ex = MetadataExtractor::new(&headers(&[("traceparent", TP1), ("traceparent", TP1)]));
        assert_eq!(ex.get("traceparent"), None);
    }

    #[test]
    fn two_traceparents_start_a_new_trace() {
        let h = headers(&[
            ("traceparent", TP1),
            ("traceparent", TP2),
            ("tracestate", "foo=1"),
        ]);
        let cx = propagator().extract(&MetadataExtractor::new(&h));
        assert!(!cx.span().span_context().is_valid());
    }

    #[test]
    fn tracestate_values_are_joined_in_order() {
        let h = headers(&[
            ("traceparent", TP1),
            ("tracestate", "foo=1"),
            ("tracestate", ""),
            ("tracestate", " bar=2 ,baz=3\t"),
        ]);
        let ex = MetadataExtractor::new(&h);
        assert_eq!(ex.get("tracestate"), Some("foo=1,bar=2 ,baz=3"));
        let cx = propagator().extract(&ex);
        let sc = cx.span().span_context().clone();
        assert!(sc.is_valid() && sc.is_remote());
        assert_eq!(sc.trace_state().header(), "foo=1,bar=2,baz=3");
    }

    #[test]
    fn baggage_values_are_combined() {
        let h = headers(&[("baggage", "k1=v1"), ("baggage", "k2=v%202;prop=x")]);
        let ex = MetadataExtractor::new(&h);
        assert_eq!(ex.get("baggage"), Some("k1=v1,k2=v%202;prop=x"));
        let cx = propagator().extract(&ex);
        let bag = cx.baggage();
        assert_eq!(bag.get("k1").map(|v| v.to_string()), Some("v1".into()));
        assert_eq!(bag.get("k2").map(|v| v.to_string()), Some("v 2".into()));
    }

    #[test]
    fn ows_around_traceparent_is_tolerated() {
        let mut h = HeaderMap::new();
        h.append(
            "traceparent",
            HeaderValue::from_str(&format!(" \t{TP1} ")).unwrap(),
        );
        let cx = propagator().extract(&MetadataExtractor::new(&h));
        assert_eq!(
            cx.span().span_context().trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
    }

    #[test]
    fn keys_are_case_insensitive_and_bin_is_skipped() {
        let ex = MetadataExtractor::from_pairs(vec![
            ("TraceParent", Some(TP1)),
            ("x-bin", Some("AAAA")),
            ("tracestate", None),
        ]);
        assert_eq!(ex.get("traceparent"), Some(TP1));
        assert_eq!(ex.get("TRACEPARENT"), Some(TP1));
        assert_eq!(ex.get("x-bin"), None);
        assert_eq!(ex.get("tracestate"), None);
        assert_eq!(ex.keys(), vec!["traceparent"]);
    }

    #[test]
    fn unusable_single_traceparent_is_absent() {
        let ex = MetadataExtractor::from_pairs(vec![("traceparent", None)]);
        assert_eq!(ex.get("traceparent"), None);
        let ex = MetadataExtractor::from_pairs(vec![
            ("traceparent", Some(TP1)),
            ("traceparent", Some("")),
        ]);
        assert_eq!(ex.get("traceparent"), None);
    }

    #[test]
    fn single_values_are_passed_on_unjudged() {
        // Validity is the propagators' call; the carrier only combines values.
        let tp = format!("{TP1}-what");
        let ex = MetadataExtractor::from_pairs(vec![
            ("traceparent", Some(&tp[..])),
            ("tracestate", Some("foo=1,bar=")),
        ]);
        assert_eq!(ex.get("traceparent"), Some(&tp[..]));
        assert_eq!(ex.get("tracestate"), Some("foo=1,bar="));
        let cx = propagator().extract(&ex);
        assert!(!cx.span().span_context().is_valid());
    }

    #[test]
    fn injector_replaces_existing_values() {
        let mut h = headers(&[("traceparent", TP1), ("traceparent", TP2)]);
        MetadataInjector(&mut h).set("traceparent", TP2.to_string());
        let all: Vec<_> = h.get_all("traceparent").iter().collect();
        assert_eq!(all, vec![TP2]);
    }

    #[test]
    fn grpc_timeout_parsing() {
        use std::time::Duration;
        let t = |v: &'static str| parse_grpc_timeout(&headers(&[("grpc-timeout", v)]));
        assert_eq!(t("100m"), Some(Duration::from_millis(100)));
        assert_eq!(t("2S"), Some(Duration::from_secs(2)));
        assert_eq!(t("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(t("5u"), Some(Duration::from_micros(5)));
        assert_eq!(t("123456789m"), None);
        assert_eq!(t("m"), None);
        assert_eq!(t("10x"), None);
    }

    #[test]
    fn grpc_message_decoding() {
        assert_eq!(decode_grpc_message(b"not%20found%25"), "not found%");
        assert_eq!(decode_grpc_message(b"bad%2"), "bad%2");
        assert_eq!(decode_grpc_message("caf%C3%A9".as_bytes()), "café");
    }
}

//! The `baggage` propagator (W3C Baggage), with values and properties that survive
//! the round trip.
//!
//! It replaces the SDK's `BaggagePropagator` (0.33), which percent-decodes
//! properties but sends them back decoded (`;p=a%2Cb` goes out as `;p=a,b`, a
//! new list member), does not encode `%` in values (`k=%2541` reaches the next
//! hop as `A`, not `%41`), and cuts a value at a second `=` (`k=a=b` forwards
//! `k=a`). Here a value is decoded for the application and encoded again (see
//! [`VALUE_ENCODE`]); properties are kept in wire form, which is what the API's
//! `BaggageMetadata` holds (`k1=v1;k2`). Keys are tokens and are not decoded.
//! `Baggage` is a map, so members go out in no particular order and a repeated
//! key keeps its last value.
use opentelemetry::baggage::{BaggageExt, KeyValueMetadata};
use opentelemetry::propagation::{
    text_map_propagator::FieldIter, Extractor, Injector, TextMapPropagator,
};
use opentelemetry::Context;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

use super::trim_ows;

const BAGGAGE: &str = "baggage";
/// W3C Baggage limits: up to these, every member MUST be propagated.
const MAX_MEMBERS: usize = 64;
const MAX_BYTES: usize = 8192;

/// Octets a value may not carry raw (`baggage-octet` excludes controls, space,
/// `"`, `,`, `;`, `\` and non-ASCII, which `utf8_percent_encode` always encodes);
/// `%` too, or a decoded `%41` would come back as `A`; and `=`, which is allowed
/// but which receivers such as the Rust SDK take for the end of the value.
/// `+` stays a literal plus.
const VALUE_ENCODE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b',')
    .add(b';')
    .add(b'\\')
    .add(b'%')
    .add(b'=');

/// `baggage` propagator.
#[derive(Debug)]
pub struct W3cBaggagePropagator {
    fields: [String; 1],
}

impl Default for W3cBaggagePropagator {
    fn default() -> Self {
        Self {
            fields: [BAGGAGE.to_string()],
        }
    }
}

impl W3cBaggagePropagator {
    pub fn new() -> Self {
        Self::default()
    }
}

/// RFC 7230 `token`: a baggage key, or a property key.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A property (`key` or `key=value`) with OWS removed, in wire form.
fn property(raw: &str) -> Option<String> {
    let raw = trim_ows(raw);
    match raw.split_once('=') {
        None => is_token(raw).then(|| raw.to_string()),
        Some((k, v)) => {
            let k = trim_ows(k);
            is_token(k).then(|| format!("{k}={}", trim_ows(v)))
        }
    }
}

/// `key OWS "=" OWS value *(OWS ";" OWS property)`; `None` for an invalid member.
/// Empty and invalid properties are left out, the member is kept.
fn member(raw: &str) -> Option<KeyValueMetadata> {
    let mut parts = raw.split(';');
    let (key, value) = parts.next()?.split_once('=')?;
    let key = trim_ows(key);
    if !is_token(key) {
        return None;
    }
    // Invalid UTF-8 becomes U+FFFD, as the spec asks, rather than losing the member.
    let value = percent_decode_str(trim_ows(value)).decode_utf8_lossy();
    let properties: Vec<String> = parts.filter_map(property).collect();
    Some(KeyValueMetadata::new(
        key.to_string(),
        value.into_owned(),
        properties.join(";"),
    ))
}

/// Members in order, as many as fit the limits (counted in wire bytes, `,` included);
/// the rest is dropped member by member, never half a member.
fn parse(header: &str) -> Vec<KeyValueMetadata> {
    let mut out = Vec::new();
    let mut bytes = 0;
    for raw in header.split(',').map(trim_ows).filter(|m| !m.is_empty()) {
        let Some(m) = member(raw) else { continue };
        let size = raw.len() + usize::from(!out.is_empty());
        if out.len() == MAX_MEMBERS || bytes + size > MAX_BYTES {
            break;
        }
        bytes += size;
        out.push(m);
    }
    out
}

impl TextMapPropagator for W3cBaggagePropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let mut header = String::new();
        for (key, (value, metadata)) in cx.baggage() {
            let mut m = format!(
                "{key}={}",
                utf8_percent_encode(value.as_str(), VALUE_ENCODE)
            );
            if !metadata.as_str().is_empty() {
                m.push(';');
                m.push_str(metadata.as_str());
            }
            // `Baggage` bounds the decoded size; the encoded header must fit too.
            let sep = usize::from(!header.is_empty());
            if header.len() + sep + m.len() > MAX_BYTES {
                continue;
            }
            if sep == 1 {
                header.push(',');
            }
            header.push_str(&m);
        }
        if !header.is_empty() {
            injector.set(BAGGAGE, header);
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        match extractor.get(BAGGAGE).map(parse) {
            Some(members) if !members.is_empty() => cx.with_baggage(members),
            _ => cx.clone(),
        }
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
    use std::collections::BTreeSet;

    fn extract(values: &[&str]) -> Context {
        let ex = MetadataExtractor::from_pairs(values.iter().map(|v| (BAGGAGE, Some(*v))));
        W3cBaggagePropagator::new().extract(&ex)
    }

    /// The outgoing members, sorted (`Baggage` does not keep the order).
    fn round_trip(values: &[&str]) -> BTreeSet<String> {
        let mut out = HeaderMap::new();
        W3cBaggagePropagator::new()
            .inject_context(&extract(values), &mut MetadataInjector(&mut out));
        match out.get(BAGGAGE) {
            Some(v) => v.to_str().unwrap().split(',').map(str::to_string).collect(),
            None => BTreeSet::new(),
        }
    }

    fn set(members: &[&str]) -> BTreeSet<String> {
        members.iter().map(|m| m.to_string()).collect()
    }

    #[test]
    fn several_values_combine() {
        assert_eq!(
            round_trip(&["k1=v1", "k2=v2,k3=v3", ""]),
            set(&["k1=v1", "k2=v2", "k3=v3"])
        );
    }

    #[test]
    fn properties_are_forwarded() {
        assert_eq!(
            round_trip(&["k1=v1;prop", "k2=v2 ; p = a%2Cb ;flag;"]),
            set(&["k1=v1;prop", "k2=v2;p=a%2Cb;flag"])
        );
        let cx = extract(&["k=v;p=1"]);
        let (_, metadata) = cx.baggage().get_with_metadata("k").unwrap();
        assert_eq!(metadata.as_str(), "p=1");
    }

    #[test]
    fn percent_encoded_values_round_trip() {
        let cx = extract(&["a=a%20b,p=1+1,pct=%2541,utf=caf%C3%A9,eq=x=y,q=%22%5C%3B"]);
        let bag = cx.baggage();
        let get = |k: &str| bag.get(k).map(|v| v.to_string());
        assert_eq!(get("a").as_deref(), Some("a b"));
        assert_eq!(get("p").as_deref(), Some("1+1"));
        assert_eq!(get("pct").as_deref(), Some("%41"));
        assert_eq!(get("utf").as_deref(), Some("café"));
        assert_eq!(get("eq").as_deref(), Some("x=y"));
        assert_eq!(
            round_trip(&["a=a%20b,p=1+1,pct=%2541,utf=caf%C3%A9,eq=x=y,q=%22%5C%3B"]),
            set(&[
                "a=a%20b",
                "p=1+1",
                "pct=%2541",
                "utf=caf%C3%A9",
                "eq=x%3Dy",
                "q=%22%5C%3B"
            ])
        );
    }

    #[test]
    fn ows_is_ignored_and_invalid_members_skipped() {
        assert_eq!(
            round_trip(&[" k1 = v1 ,\tk2=v2\t", "bad key=1,novalue,=x,k3="]),
            set(&["k1=v1", "k2=v2", "k3="])
        );
    }

    #[test]
    fn limits_forward_everything_within_them() {
        // 64 members in 8192 bytes exactly: 63 * 128 + 63 commas + the last one.
        let mut members: Vec<String> = (0..63)
            .map(|i| format!("k{i:02}={}", "v".repeat(124)))
            .collect();
        let used: usize = members.iter().map(String::len).sum::<usize>() + 63;
        members.push(format!("k63={}", "v".repeat(MAX_BYTES - used - 4)));
        let header = members.join(",");
        assert_eq!(header.len(), MAX_BYTES);
        // Sent as two metadata values.
        let (a, b) = members.split_at(30);
        let (a, b) = (a.join(","), b.join(","));
        let got = round_trip(&[&a, &b]);
        assert_eq!(got, members.iter().cloned().collect::<BTreeSet<_>>());

        // Past a limit whole members are dropped, from the end.
        let got = round_trip(&[&header, "extra=1"]);
        assert_eq!(got.len(), 64);
        assert!(!got.contains("extra=1"));
        let many: Vec<String> = (0..70).map(|i| format!("m{i}=1")).collect();
        assert_eq!(round_trip(&[&many.join(",")]).len(), 64);
    }

    #[test]
    fn nothing_in_nothing_out() {
        assert!(round_trip(&[]).is_empty());
        assert!(round_trip(&["novalue"]).is_empty());
    }
}

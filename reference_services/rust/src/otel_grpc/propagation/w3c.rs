//! Strict parsers for `traceparent` and `tracestate` values (Trace Context Level 1
//! ABNF, which is what OpenTelemetry SDKs implement).
//!
//! They replace the SDK's (0.33) parsing, which reads every field with
//! `from_str_radix`: that accepts any length and a leading `+`, so a version of
//! `0`, `000` or `0000`, a 31-character trace-id or flags of `1` all passed. Its
//! `tracestate` key check is off by one on the system id (a 14-character one,
//! which the grammar allows, made it drop the whole header), allows a simple key
//! to start with a digit, accepts an empty key or value and reads `foo==1` as
//! `foo=1`.
use opentelemetry::trace::{SpanId, TraceId};

use super::trim_ows;

/// Length of a version-00 `traceparent`; later versions may only append `-...`.
const TRACEPARENT_LEN: usize = 55;
/// More list members than this invalidate the whole `tracestate`.
pub const MAX_TRACESTATE_MEMBERS: usize = 32;

/// The fields of a valid `traceparent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    /// All eight bits as received; the caller decides which ones it understands.
    pub flags: u8,
}

/// The field if it is made of lowercase hex digits only (uppercase is invalid).
fn lower_hex(field: &[u8]) -> Option<&str> {
    if field.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        std::str::from_utf8(field).ok()
    } else {
        None
    }
}

/// Parses `version-traceid-parentid-flags`; `None` means "start a new trace".
pub fn parse_traceparent(value: &str) -> Option<TraceParent> {
    // Byte offsets, not `split('-')`: each field has a fixed width, and a field of
    // the wrong width must not be read as a number of another length.
    let b = trim_ows(value).as_bytes();
    if b.len() < TRACEPARENT_LEN || b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
        return None;
    }
    let version = lower_hex(&b[..2])?;
    let trace_id = lower_hex(&b[3..35])?;
    let span_id = lower_hex(&b[36..52])?;
    let flags = lower_hex(&b[53..55])?;
    let well_ended = match version {
        "ff" => false,
        "00" => b.len() == TRACEPARENT_LEN,
        // A future version may carry more fields, each introduced by `-`.
        _ => b.len() == TRACEPARENT_LEN || b[TRACEPARENT_LEN] == b'-',
    };
    let trace_id = TraceId::from_hex(trace_id).ok()?;
    let span_id = SpanId::from_hex(span_id).ok()?;
    if !well_ended || trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
        return None;
    }
    Some(TraceParent {
        trace_id,
        span_id,
        flags: u8::from_str_radix(flags, 16).ok()?,
    })
}

/// The members of a (combined) `tracestate` in order, or `None` when one member
/// is invalid or there are too many, which discards the whole header.
/// Empty members and OWS around `,` are skipped; duplicate keys are kept.
pub fn parse_tracestate(value: &str) -> Option<Vec<(&str, &str)>> {
    let mut members = Vec::new();
    for member in value.split(',').map(trim_ows).filter(|m| !m.is_empty()) {
        let (key, val) = member.split_once('=')?;
        if !valid_key(key) || !valid_value(val) {
            return None;
        }
        members.push((key, val));
    }
    (members.len() <= MAX_TRACESTATE_MEMBERS).then_some(members)
}

/// `simple-key` or `tenant-id "@" system-id`.
pub fn valid_key(key: &str) -> bool {
    let lower = |b: u8| b.is_ascii_lowercase();
    let lower_or_digit = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    match key.split_once('@') {
        None => key_part(key, 256, lower),
        Some((tenant, system)) => {
            key_part(tenant, 241, lower_or_digit) && key_part(system, 14, lower)
        }
    }
}

/// One key part: a first character allowed by `first`, then `[a-z0-9_\-*/]`.
fn key_part(part: &str, max_len: usize, first: impl Fn(u8) -> bool) -> bool {
    let rest_ok = |b: &u8| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/');
    match part.as_bytes() {
        [head, rest @ ..] => part.len() <= max_len && first(*head) && rest.iter().all(rest_ok),
        [] => false,
    }
}

/// 1 to 256 printable ASCII characters other than `,` and `=`, not ending in a space.
pub fn valid_value(value: &str) -> bool {
    (1..=256).contains(&value.len())
        && !value.ends_with(' ')
        && value
            .bytes()
            .all(|b| matches!(b, 0x20..=0x7e) && b != b',' && b != b'=')
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "0af7651916cd43dd8448eb211c80319c";
    const P: &str = "b7ad6b7169203331";

    fn tp(s: &str) -> Option<TraceParent> {
        parse_traceparent(s)
    }

    #[test]
    fn traceparent_valid_forms() {
        let ok = tp(&format!("00-{T}-{P}-01")).unwrap();
        assert_eq!(ok.trace_id.to_string(), T);
        assert_eq!(ok.span_id.to_string(), P);
        assert_eq!(ok.flags, 0x01);
        assert_eq!(tp(&format!(" \t00-{T}-{P}-03\t ")).unwrap().flags, 0x03);
        assert!(tp(&format!("cc-{T}-{P}-01")).is_some());
        assert!(tp(&format!("cc-{T}-{P}-01-what-the-future-will-be-like")).is_some());
    }

    #[test]
    fn traceparent_version_must_be_two_lowercase_hex_digits() {
        for version in ["0", "000", "0000", ".0", "0.", "+0", "0A", "CC", "ff", "-0"] {
            assert_eq!(
                tp(&format!("{version}-{T}-{P}-01")),
                None,
                "version {version:?}"
            );
        }
    }

    #[test]
    fn traceparent_field_widths_and_characters() {
        let t31 = &T[..31];
        let t33 = format!("{T}0");
        let bad = [
            format!("00-{t31}-{P}-01"),
            format!("00-{t33}-{P}-01"),
            format!("00-{T}-{}-01", &P[..15]),
            format!("00-{T}-{P}0-01"),
            // 31 + 17 characters: right total length, wrong widths.
            format!("00-{t31}-{P}0-01"),
            format!("00-{}-{P}-01", T.replace('a', ".")),
            format!("00-+{}-{P}-01", &T[1..]),
            format!("00-{}-{P}-01", T.to_uppercase()),
            format!("00-{T}-{}-01", P.replace('b', ".")),
            format!("00-{T}-{}-01", P.to_uppercase()),
            format!("00-{}-{P}-01", "0".repeat(32)),
            format!("00-{T}-{}-01", "0".repeat(16)),
        ];
        for v in bad {
            assert_eq!(tp(&v), None, "{v}");
        }
    }

    #[test]
    fn traceparent_flags_and_trailing_data() {
        for flags in [".0", "0.", "001", "1", "0A", "+1"] {
            assert_eq!(tp(&format!("00-{T}-{P}-{flags}")), None, "flags {flags:?}");
        }
        for tail in [".", "-", "-extra"] {
            assert_eq!(
                tp(&format!("00-{T}-{P}-01{tail}")),
                None,
                "00 with {tail:?}"
            );
        }
        assert_eq!(
            tp(&format!("cc-{T}-{P}-01.what-the-future-will-be-like")),
            None
        );
        assert_eq!(tp(&format!("cc-{T}-{P}-1")), None);
        // Non-ASCII must not panic on a byte offset.
        assert_eq!(tp(&format!("00-{}é-{P}-01", &T[..30])), None);
    }

    #[test]
    fn tracestate_keys() {
        let system14 = format!("{}@{}", "t".repeat(241), "v".repeat(14));
        assert!(valid_key(&system14));
        assert!(valid_key(&"k".repeat(256)));
        assert!(valid_key("0tenant@sys"));
        assert!(valid_key("a_-*/9"));
        for key in [
            format!("{}@{}", "t".repeat(241), "v".repeat(15)),
            format!("{}@{}", "t".repeat(242), "v"),
            "k".repeat(257),
            "FOO".into(),
            "foo ".into(),
            "foo.bar".into(),
            "@foo".into(),
            "foo@".into(),
            "foo@1sys".into(),
            "a@b@c".into(),
            "1foo".into(),
            String::new(),
        ] {
            assert!(!valid_key(&key), "{key:?}");
        }
    }

    #[test]
    fn tracestate_lists() {
        assert_eq!(
            parse_tracestate("foo=1 ,\t,bar=2,foo=3"),
            Some(vec![("foo", "1"), ("bar", "2"), ("foo", "3")])
        );
        assert_eq!(parse_tracestate(""), Some(vec![]));
        for bad in [
            "foo=1,FOO=1",
            "foo =1",
            "foo=",
            "foo=bar=baz",
            "foo==bar",
            "foo",
            "=1",
        ] {
            assert_eq!(parse_tracestate(bad), None, "{bad:?}");
        }
        assert_eq!(parse_tracestate(&format!("foo={}", "v".repeat(257))), None);
        assert!(parse_tracestate(&format!("foo={}", "v".repeat(256))).is_some());
        let list = |n: usize| {
            (0..n)
                .map(|i| format!("k{i}=v"))
                .collect::<Vec<_>>()
                .join(",")
        };
        assert_eq!(parse_tracestate(&list(32)).map(|m| m.len()), Some(32));
        assert_eq!(parse_tracestate(&list(33)), None);
    }
}

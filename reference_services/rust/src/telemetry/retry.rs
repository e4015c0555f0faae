//! Retries of OTLP/gRPC span exports that fail on the transport.
//!
//! Why: tonic reports a call cut before any answer (the connection reset, as
//! when the collector is away or restarting) as gRPC code `Unknown`, "transport
//! error" (opentelemetry-rust PR #1931 shows that `Unknown` "transport error"
//! for a collector that cannot be reached), and opentelemetry-otlp 0.33 does not
//! retry `Unknown`: the batch is dropped at once. A refused connection comes as
//! `Unavailable`, which it retries, but only 3 times within about a second. The
//! OTLP specification (opentelemetry-proto docs/specification.md §Failures)
//! makes transient failures retryable, and the OTel specification
//! (protocol/exporter.md §Retry) says transient errors MUST be retried with
//! exponential backoff and jitter. [`TransportRetry`] does that for failures
//! that tonic's transport made, until the exporter timeout; every other error
//! (`InvalidArgument`, any status the collector answered) keeps its single
//! attempt.
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;

const INITIAL_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(4);

/// True for the error opentelemetry-otlp's tonic exporter returns when tonic's
/// transport, not the collector, ended the call as `Unknown` or `Unavailable`:
/// "TonicTracesClient export failed with gRPC code: Unknown: transport error:
/// connection error: connection reset" (observed) or "...: Unavailable: transport
/// error: tcp connect error: ... Connection refused (os error 111)". The exporter
/// appends the status's source chain, which only a status tonic made locally has;
/// a status the collector answered has none and never matches.
pub(super) fn is_transport_failure(error: &OTelSdkError) -> bool {
    let OTelSdkError::InternalFailure(message) = error else {
        return false;
    };
    let Some((_, status)) = message.split_once(" export failed with gRPC code: ") else {
        return false;
    };
    let Some((code, source)) = status.split_once(": ") else {
        return false;
    };
    matches!(code, "Unknown" | "Unavailable") && source.starts_with("transport error")
}

/// The backoff before retry number `retry` (0-based): 250 ms doubled each time,
/// at most 4 s.
pub(super) fn backoff(retry: u32) -> Duration {
    INITIAL_BACKOFF
        .saturating_mul(2u32.saturating_pow(retry))
        .min(MAX_BACKOFF)
}

/// `base` with "equal jitter": between half of it and all of it, `random`
/// picking where.
pub(super) fn jittered(base: Duration, random: u64) -> Duration {
    let half = base / 2;
    let spread = (base - half).as_millis() as u64;
    half + Duration::from_millis(random % (spread + 1))
}

/// A span exporter that retries `inner`'s exports failing on the transport, with
/// exponential backoff and jitter, until `timeout` (the OTLP exporter timeout)
/// has passed since the first attempt.
#[derive(Debug)]
pub struct TransportRetry<E> {
    inner: E,
    timeout: Duration,
}

impl<E> TransportRetry<E> {
    pub fn new(inner: E, timeout: Duration) -> Self {
        TransportRetry { inner, timeout }
    }
}

impl<E: SpanExporter> SpanExporter for TransportRetry<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let started = Instant::now();
        let mut retry = 0;
        loop {
            let error = match self.inner.export(batch.clone()).await {
                Ok(()) => return Ok(()),
                Err(error) => error,
            };
            if !is_transport_failure(&error) {
                return Err(error);
            }
            let remaining = self.timeout.saturating_sub(started.elapsed());
            let pause = jittered(backoff(retry), RandomState::new().hash_one(retry));
            if pause >= remaining {
                return Err(error);
            }
            retry += 1;
            // The batch processor runs exports on its own thread under
            // `futures_executor::block_on`, outside any tokio runtime, where
            // `tokio::time::sleep` would panic; a blocking sleep holds only that
            // thread (opentelemetry-otlp's own retry sleeps the same way there).
            std::thread::sleep(pause);
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn shutdown(&self) -> OTelSdkResult {
        self.inner.shutdown()
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const PREFIX: &str = "TonicTracesClient export failed with gRPC code: ";
    const RESET: &str = "Unknown: transport error: connection error: connection reset";

    fn failure(status: &str) -> OTelSdkError {
        OTelSdkError::InternalFailure(format!("{PREFIX}{status}"))
    }

    #[test]
    fn only_transport_failures_are_retried() {
        assert!(is_transport_failure(&failure(RESET)));
        let refused = "Unavailable: transport error: tcp connect error: Connection refused";
        assert!(is_transport_failure(&failure(refused)));
        for status in [
            "Unknown",
            "Unavailable",
            "InvalidArgument",
            "Cancelled: transport error",
        ] {
            assert!(!is_transport_failure(&failure(status)), "{status}");
        }
        let bare = OTelSdkError::InternalFailure("transport error".into());
        assert!(!is_transport_failure(&bare));
        assert!(!is_transport_failure(&OTelSdkError::AlreadyShutdown));
    }

    #[test]
    fn backoff_doubles_from_250ms_up_to_4s_with_jitter() {
        let schedule: Vec<u128> = (0..7).map(|n| backoff(n).as_millis()).collect();
        assert_eq!(schedule, [250, 500, 1000, 2000, 4000, 4000, 4000]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
        let base = Duration::from_millis(1000);
        assert_eq!(jittered(base, 0), base / 2);
        assert_eq!(jittered(base, 500), base);
        assert_eq!(jittered(base, 501), base / 2);
        for random in [1, 77, 12_345, u64::MAX] {
            let pause = jittered(base, random);
            assert!(pause >= base / 2 && pause <= base, "{pause:?}");
        }
    }

    /// Fails its first `failures` exports with `status`, then succeeds.
    #[derive(Debug)]
    struct Flaky(&'static str, usize, AtomicUsize);

    impl SpanExporter for Flaky {
        async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
            match self.2.fetch_add(1, Ordering::SeqCst) < self.1 {
                true => Err(failure(self.0)),
                false => Ok(()),
            }
        }
    }

    /// The result of one export, and how many attempts it took.
    fn export(status: &'static str, failures: usize, timeout: Duration) -> (bool, usize) {
        let exporter = TransportRetry::new(Flaky(status, failures, AtomicUsize::new(0)), timeout);
        let result = futures_util::FutureExt::now_or_never(exporter.export(Vec::new()));
        (
            result.unwrap().is_ok(),
            exporter.inner.2.load(Ordering::SeqCst),
        )
    }

    #[test]
    fn retries_transport_failures_within_the_timeout_only() {
        assert_eq!(export(RESET, 2, Duration::from_secs(10)), (true, 3));
        // The first pause (at least 125 ms) does not fit in 100 ms.
        assert_eq!(export(RESET, 2, Duration::from_millis(100)), (false, 1));
        assert_eq!(
            export("InvalidArgument", 2, Duration::from_secs(10)),
            (false, 1)
        );
    }
}

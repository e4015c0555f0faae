//! The semconv process metrics (docs/system/process-metrics.md): the USE view of
//! CPU and memory. They are observable instruments, so the SDK reads them only
//! when the periodic reader collects, on the same export as the RPC metrics.
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::SdkMeterProvider;

/// Adds `process.cpu.time` and `process.memory.usage` to `provider`.
pub(super) fn register(provider: &SdkMeterProvider) {
    let meter = provider.meter(super::APP_TARGET);
    let user = [KeyValue::new("cpu.mode", "user")];
    let system = [KeyValue::new("cpu.mode", "system")];
    let cpu_warned = AtomicBool::new(false);
    // The SDK keeps the callbacks for the provider's lifetime; the instrument
    // handles themselves are not needed.
    meter
        .f64_observable_counter("process.cpu.time")
        .with_unit("s")
        .with_description("Total CPU seconds broken down by different CPU modes.")
        .with_callback(move |observer| match cpu_seconds() {
            Ok((user_s, system_s)) => {
                observer.observe(user_s, &user);
                observer.observe(system_s, &system);
            }
            Err(e) => warn_once(&cpu_warned, "process.cpu.time", &e),
        })
        .build();

    let page_size = page_size();
    let memory_warned = AtomicBool::new(false);
    meter
        .i64_observable_up_down_counter("process.memory.usage")
        .with_unit("By")
        .with_description("The amount of physical memory in use.")
        .with_callback(move |observer| {
            match std::fs::read_to_string("/proc/self/statm")
                .and_then(|statm| resident_bytes(&statm, page_size))
            {
                Ok(bytes) => observer.observe(bytes, &[]),
                Err(e) => warn_once(&memory_warned, "process.memory.usage", &e),
            }
        })
        .build();
}

/// A failing source fails at every export; one line on stderr says enough.
fn warn_once(warned: &AtomicBool, metric: &str, error: &std::io::Error) {
    if !warned.swap(true, Ordering::Relaxed) {
        eprintln!("telemetry: {metric}: {error}; not exported");
    }
}

/// User and system CPU time of the whole process (all threads), in seconds.
fn cpu_seconds() -> std::io::Result<(f64, f64)> {
    // SAFETY: rusage is plain old data, so all zeroes is a valid value, and
    // getrusage writes only into the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let seconds = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    Ok((seconds(usage.ru_utime), seconds(usage.ru_stime)))
}

fn page_size() -> i64 {
    // SAFETY: sysconf only reads a configuration value.
    match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        #[allow(clippy::unnecessary_cast)] // c_long is only 32 bits on 32-bit targets
        n if n > 0 => n as i64,
        _ => 4096,
    }
}

/// The resident set size from the text of `/proc/self/statm`, whose second
/// field counts resident pages (proc(5)). getrusage's `ru_maxrss` would be
/// the peak, which never goes down, so it is not used.
fn resident_bytes(statm: &str, page_size: i64) -> std::io::Result<i64> {
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|pages| pages.parse::<i64>().ok())
        .map(|pages| pages * page_size)
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("/proc/self/statm: no resident page count in {statm:?}"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader};

    #[test]
    fn exports_cpu_time_by_mode_and_resident_memory() {
        let exporter = InMemoryMetricExporter::default();
        let provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter.clone()).build())
            .build();
        register(&provider);
        provider.force_flush().unwrap();
        let exported = exporter.get_finished_metrics().unwrap();
        let metrics: Vec<_> = exported
            .iter()
            .flat_map(|rm| rm.scope_metrics())
            .flat_map(|sm| sm.metrics())
            .collect();
        let find = |name: &str| {
            *metrics
                .iter()
                .find(|m| m.name() == name)
                .unwrap_or_else(|| panic!("{name} not exported"))
        };

        let cpu = find("process.cpu.time");
        assert_eq!(cpu.unit(), "s");
        let AggregatedMetrics::F64(MetricData::Sum(sum)) = cpu.data() else {
            panic!("process.cpu.time is {:?}, want an f64 sum", cpu.data());
        };
        assert!(sum.is_monotonic());
        let mut modes: Vec<(String, f64)> = sum
            .data_points()
            .map(|p| {
                let mode = p.attributes().find(|kv| kv.key.as_str() == "cpu.mode");
                (mode.unwrap().value.to_string(), p.value())
            })
            .collect();
        modes.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            modes.iter().map(|(m, _)| m.as_str()).collect::<Vec<_>>(),
            ["system", "user"]
        );
        assert!(modes.iter().all(|(_, v)| *v >= 0.0));

        let memory = find("process.memory.usage");
        assert_eq!(memory.unit(), "By");
        let AggregatedMetrics::I64(MetricData::Sum(usage)) = memory.data() else {
            panic!(
                "process.memory.usage is {:?}, want an i64 sum",
                memory.data()
            );
        };
        assert!(!usage.is_monotonic());
        let points: Vec<i64> = usage.data_points().map(|p| p.value()).collect();
        assert!(points.len() == 1 && points[0] > 0, "points {points:?}");
    }

    #[test]
    fn resident_bytes_reads_the_second_field() {
        assert_eq!(
            resident_bytes("5435 1234 456 123 0 789 0\n", 4096).unwrap(),
            1234 * 4096
        );
        for bad in ["", "5435", "5435 x"] {
            assert!(resident_bytes(bad, 4096).is_err(), "{bad:?} accepted");
        }
    }
}

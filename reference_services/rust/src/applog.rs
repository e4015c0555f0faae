//! Application logging: `tracing` events, shipped two ways.
//!
//! * OTLP: `opentelemetry-appender-tracing` turns each event into an OTel log
//!   record; the SDK stamps it with the trace/span id of `Context::current()`,
//!   which the gRPC server layer keeps set to the server span while a handler runs.
//! * stdout: [`JsonStdoutLayer`] prints one JSON object per event in the seed's
//!   shape `{timestamp, level, message, trace_id, span_id, service, attributes}`.
//!
//! `tracing` field names are `'static`, so attributes whose keys are only known at
//! run time (the `Log` RPC's map) cannot be event fields. [`with_attributes`]
//! stashes them for the duration of one synchronous `tracing` call; the stdout
//! layer reads the stash and [`ExtraAttributesProcessor`] (first in the OTel log
//! pipeline) copies it onto the OTel log record.
use std::cell::RefCell;
use std::fmt;
use std::io::Write;

use opentelemetry::logs::LogRecord as _;
use opentelemetry::trace::TraceContextExt;
use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogProcessor, SdkLogRecord};
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context as LayerContext;
use tracing_subscriber::Layer;

thread_local! {
    static EXTRA: RefCell<Vec<(String, String)>> = const { RefCell::new(Vec::new()) };
}

struct ClearOnDrop;
impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        EXTRA.with(|e| e.borrow_mut().clear());
    }
}

/// Runs `f` (which emits `tracing` events synchronously) with extra log-record
/// attributes whose keys are known only at run time.
pub fn with_attributes<R>(attrs: Vec<(String, String)>, f: impl FnOnce() -> R) -> R {
    EXTRA.with(|e| *e.borrow_mut() = attrs);
    let _clear = ClearOnDrop;
    f()
}

fn extra_attributes() -> Vec<(String, String)> {
    EXTRA.with(|e| e.borrow().clone())
}

/// Log processor that adds the stashed run-time attributes to each record.
/// Register it before the batch processor.
#[derive(Debug, Default)]
pub struct ExtraAttributesProcessor;

impl LogProcessor for ExtraAttributesProcessor {
    fn emit(&self, record: &mut SdkLogRecord, _scope: &InstrumentationScope) {
        EXTRA.with(|e| {
            for (k, v) in e.borrow().iter() {
                record.add_attribute(k.clone(), v.clone());
            }
        });
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
}

/// `tracing` layer printing one JSON object per event on stdout.
pub struct JsonStdoutLayer {
    service: String,
}

impl JsonStdoutLayer {
    pub fn new(service: impl Into<String>) -> Self {
        JsonStdoutLayer {
            service: service.into(),
        }
    }
}

#[derive(Default)]
struct JsonVisitor {
    message: String,
    attributes: Map<String, Value>,
}

impl Visit for JsonVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.attributes
                .insert(field.name().into(), Value::from(value));
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.attributes
            .insert(field.name().into(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.attributes
            .insert(field.name().into(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.attributes
            .insert(field.name().into(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.attributes
            .insert(field.name().into(), Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.attributes
                .insert(field.name().into(), Value::from(format!("{value:?}")));
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for JsonStdoutLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: LayerContext<'_, S>) {
        let mut visitor = JsonVisitor::default();
        event.record(&mut visitor);
        for (k, v) in extra_attributes() {
            visitor.attributes.insert(k, Value::from(v));
        }
        let (trace_id, span_id) = {
            let cx = opentelemetry::Context::current();
            let span = cx.span();
            let sc = span.span_context();
            if sc.is_valid() {
                (sc.trace_id().to_string(), sc.span_id().to_string())
            } else {
                (String::new(), String::new())
            }
        };
        let timestamp = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let mut obj = Map::new();
        obj.insert("timestamp".into(), Value::from(timestamp));
        obj.insert(
            "level".into(),
            Value::from(event.metadata().level().as_str()),
        );
        obj.insert("message".into(), Value::from(visitor.message));
        obj.insert("trace_id".into(), Value::from(trace_id));
        obj.insert("span_id".into(), Value::from(span_id));
        obj.insert("service".into(), Value::from(self.service.clone()));
        obj.insert("attributes".into(), Value::Object(visitor.attributes));
        let mut line = Value::Object(obj).to_string();
        line.push('\n');
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        let _ = lock.write_all(line.as_bytes());
        let _ = lock.flush();
    }
}

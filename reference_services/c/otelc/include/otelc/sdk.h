/* otelc/sdk.h - the SDK instance: configuration, resource, background
 * exporter (OTLP/HTTP JSON) for traces, metrics and logs.
 *
 * Handle: otelc_sdk, created with otelc_sdk_new / otelc_sdk_new_from_env and
 * released with otelc_sdk_free, which shuts down: it force-flushes all three
 * signals, stops the exporter thread and frees everything. All functions
 * taking an otelc_sdk are thread-safe. Spans, histograms and log calls never
 * block on the network: finished items go into bounded in-memory queues that
 * a single background thread exports; when a queue is full the item is
 * dropped and counted (otelc_sdk_stats).
 */
#ifndef OTELC_SDK_H
#define OTELC_SDK_H

#include "otelc/attributes.h"
#include "otelc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct otelc_sdk otelc_sdk;

typedef enum otelc_sampler {
  OTELC_SAMPLER_PARENTBASED_ALWAYS_ON = 0, /* default */
  OTELC_SAMPLER_ALWAYS_ON,
  OTELC_SAMPLER_ALWAYS_OFF,
  OTELC_SAMPLER_TRACEIDRATIO,
  OTELC_SAMPLER_PARENTBASED_ALWAYS_OFF,
  OTELC_SAMPLER_PARENTBASED_TRACEIDRATIO
} otelc_sampler;

typedef enum otelc_compression {
  OTELC_COMPRESSION_NONE = 0, /* default */
  OTELC_COMPRESSION_GZIP      /* request bodies gzipped, Content-Encoding: gzip */
} otelc_compression;

/* Plain configuration struct. Strings are borrowed during otelc_sdk_new and
 * copied. Fill with otelc_config_from_env (or otelc_config_defaults) first. */
typedef struct otelc_config {
  bool disabled;                /* OTEL_SDK_DISABLED=true: nothing recorded/exported */
  const char *traces_endpoint;  /* full URL, e.g. http://127.0.0.1:4318/v1/traces */
  const char *metrics_endpoint; /* full URL .../v1/metrics */
  const char *logs_endpoint;    /* full URL .../v1/logs */
  /* OTEL_EXPORTER_OTLP_HEADERS form "k=v,k2=v2" (W3C Baggage-like: spaces
   * around members ignored, values percent-decoded), may be NULL */
  const char *headers;
  otelc_compression compression; /* OTEL_EXPORTER_OTLP_COMPRESSION, default none */
  uint32_t export_timeout_ms;   /* OTEL_EXPORTER_OTLP_TIMEOUT, default 10000 */
  uint32_t bsp_schedule_delay_ms;   /* OTEL_BSP_SCHEDULE_DELAY, default 5000 */
  uint32_t bsp_max_queue_size;      /* OTEL_BSP_MAX_QUEUE_SIZE, default 2048 */
  uint32_t bsp_max_export_batch;    /* OTEL_BSP_MAX_EXPORT_BATCH_SIZE, default 512 */
  uint32_t blrp_schedule_delay_ms;  /* OTEL_BLRP_SCHEDULE_DELAY, default 1000 */
  uint32_t blrp_max_queue_size;     /* OTEL_BLRP_MAX_QUEUE_SIZE, default 2048 */
  uint32_t metric_export_interval_ms; /* OTEL_METRIC_EXPORT_INTERVAL, default 60000 */
  otelc_sampler sampler;        /* OTEL_TRACES_SAMPLER */
  double sampler_ratio;         /* OTEL_TRACES_SAMPLER_ARG, default 1.0 */
  unsigned propagators;         /* OTEL_PROPAGATORS mask, default tracecontext|baggage */
  bool stdout_logs;             /* write the seed's JSON log line to stdout, default true */
  const char *scope_name;       /* instrumentation scope, default "otelc" */
} otelc_config;

/* Defaults per the OpenTelemetry SDK environment variable spec, endpoints
 * http://localhost:4318/v1/{traces,metrics,logs}. */
void otelc_config_defaults(otelc_config *cfg);
/* Defaults overridden by the OTEL_* environment variables. String fields
 * point into storage owned by the process environment or static storage;
 * copy them if the environment may change. Unsupported values (e.g.
 * OTEL_EXPORTER_OTLP_PROTOCOL=grpc) produce a warning on stderr. The
 * per-signal OTEL_EXPORTER_OTLP_{TRACES,METRICS,LOGS}_{HEADERS,COMPRESSION}
 * are not read. */
void otelc_config_from_env(otelc_config *cfg);

/* Creates the SDK. The resource is, from lowest to highest priority:
 *  1. the SDK's own: service.name "unknown_service", service.version "0.0.0",
 *     service.instance.id (random UUID v4), telemetry.sdk.{name,language,version};
 *  2. OTEL_RESOURCE_ATTRIBUTES (values percent-decoded), the secondary
 *     resource of the resource SDK spec;
 *  3. what the service provides: `service_version` (may be NULL) as
 *     service.version, then `resource` (may be NULL);
 *  4. OTEL_SERVICE_NAME as service.name.
 * Returns NULL on failure. Caller owns. */
otelc_sdk *otelc_sdk_new(const otelc_config *cfg, const otelc_attributes *resource,
                         const char *service_version);
/* otelc_config_from_env + otelc_sdk_new. */
otelc_sdk *otelc_sdk_new_from_env(const char *service_version);

/* Exports everything queued so far (all three signals, metrics collected
 * now) and waits up to timeout_ms. OTELC_OK when done in time. */
int otelc_sdk_force_flush(otelc_sdk *sdk, uint32_t timeout_ms);
/* Shutdown (force flush, stop thread) and free. NULL allowed. */
void otelc_sdk_free(otelc_sdk *sdk);

/* The merged resource (borrowed, lives as long as the SDK). */
const otelc_attributes *otelc_sdk_resource(const otelc_sdk *sdk);
const char *otelc_sdk_service_name(const otelc_sdk *sdk);
unsigned otelc_sdk_propagators(const otelc_sdk *sdk);
bool otelc_sdk_disabled(const otelc_sdk *sdk);

typedef struct otelc_sdk_stats {
  uint64_t spans_exported, spans_dropped, spans_failed;
  uint64_t logs_exported, logs_dropped, logs_failed;
  uint64_t metric_exports, metric_exports_failed;
} otelc_sdk_stats;
void otelc_sdk_get_stats(otelc_sdk *sdk, otelc_sdk_stats *out);

#ifdef __cplusplus
}
#endif
#endif

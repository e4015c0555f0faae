/* otelc/logs.h - trace-correlated log records.
 *
 * otelc_log_emit writes one JSON line to stdout in the seed's shape
 *   {"timestamp","level","message","trace_id","span_id","service","attributes"}
 * (when the config's stdout_logs is true) and queues one OTLP log record
 * carrying trace_id/span_id of `active` (when valid), severity_number,
 * severity_text, body and attributes. No handles: all arguments are borrowed
 * and copied. Thread-safe; never blocks on the network (full queue => drop).
 */
#ifndef OTELC_LOGS_H
#define OTELC_LOGS_H

#include "otelc/attributes.h"
#include "otelc/common.h"
#include "otelc/sdk.h"

#ifdef __cplusplus
extern "C" {
#endif

/* OTLP SeverityNumber values for the first value of each range. */
enum {
  OTELC_SEVERITY_UNSPECIFIED = 0,
  OTELC_SEVERITY_TRACE = 1,
  OTELC_SEVERITY_DEBUG = 5,
  OTELC_SEVERITY_INFO = 9,
  OTELC_SEVERITY_WARN = 13,
  OTELC_SEVERITY_ERROR = 17,
  OTELC_SEVERITY_FATAL = 21
};

/* "TRACE","DEBUG","INFO","WARN","ERROR","FATAL" by range; "UNSPECIFIED" for 0. */
const char *otelc_severity_text(int severity_number);

/* `active` may be NULL / invalid (then trace_id and span_id are "" on stdout
 * and absent in OTLP). `attrs` may be NULL. */
void otelc_log_emit(otelc_sdk *sdk, int severity_number, const char *message,
                    const otelc_attributes *attrs, const otelc_span_context *active);

#ifdef __cplusplus
}
#endif
#endif

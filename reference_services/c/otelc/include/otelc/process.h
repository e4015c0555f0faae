/* otelc/process.h - the process metrics of the OpenTelemetry semantic
 * conventions (docs/system/process-metrics.md), observed at every metrics
 * collection of the SDK they are registered with:
 *   process.cpu.time      observable counter, unit s, one data point per
 *                         cpu.mode ("user", "system"), from getrusage(RUSAGE_SELF)
 *   process.memory.usage  observable up-down counter, unit By, the resident
 *                         set size (/proc/self/statm resident pages x page size)
 *
 * No handle: the two instruments belong to the SDK and live until
 * otelc_sdk_free. Thread-safe.
 */
#ifndef OTELC_PROCESS_H
#define OTELC_PROCESS_H

#include "otelc/common.h"
#include "otelc/sdk.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Plain value type. A field that could not be read is -1. */
typedef struct otelc_process_usage {
  double cpu_user_s;        /* CPU time spent in user mode, seconds */
  double cpu_system_s;      /* CPU time spent in the kernel for the process, seconds */
  int64_t memory_rss_bytes; /* resident set size now, bytes */
} otelc_process_usage;

/* Reads the current usage of the calling process. OTELC_OK when every field
 * was read, else OTELC_ERR_STATE (the fields not read are -1). */
int otelc_process_usage_read(otelc_process_usage *out);

/* Registers process.cpu.time and process.memory.usage with `sdk`, once per
 * SDK. OTELC_ERR_INVALID for a NULL sdk; OTELC_ERR_STATE when they could not
 * be registered (already registered, or out of memory): then neither is. */
int otelc_process_metrics_register(otelc_sdk *sdk);

#ifdef __cplusplus
}
#endif
#endif

/* otelc/trace.h - spans.
 *
 * Handle: otelc_span, created with otelc_span_start and released with
 * otelc_span_end (records the end time and hands the span to the SDK's export
 * queue; the handle is invalid afterwards) or otelc_span_free (discard
 * without exporting). A span is used by one thread at a time.
 *
 * Sampling: the SDK's sampler decides at start. A span that is not sampled is
 * still a real span context (fresh span id, same trace id, flags without the
 * sampled bit) so that it can be propagated; it records nothing and is
 * never exported (otelc_span_is_recording returns false).
 */
#ifndef OTELC_TRACE_H
#define OTELC_TRACE_H

#include "otelc/attributes.h"
#include "otelc/common.h"
#include "otelc/propagation.h"
#include "otelc/sdk.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum otelc_span_kind {
  OTELC_SPAN_KIND_UNSPECIFIED = 0,
  OTELC_SPAN_KIND_INTERNAL = 1,
  OTELC_SPAN_KIND_SERVER = 2,
  OTELC_SPAN_KIND_CLIENT = 3,
  OTELC_SPAN_KIND_PRODUCER = 4,
  OTELC_SPAN_KIND_CONSUMER = 5
} otelc_span_kind;

typedef enum otelc_status_code {
  OTELC_STATUS_UNSET = 0,
  OTELC_STATUS_OK = 1,
  OTELC_STATUS_ERROR = 2
} otelc_status_code;

typedef struct otelc_span otelc_span;

/* Starts a span. `parent` may be NULL or invalid (=> new root, new trace id).
 * `tracestate` (may be NULL) is copied and becomes the span's tracestate (it
 * is what gets propagated downstream). The parent's random flag (0x02) is
 * kept. Never returns NULL unless out of memory. */
otelc_span *otelc_span_start(otelc_sdk *sdk, const char *name, otelc_span_kind kind,
                             const otelc_span_context *parent,
                             const otelc_tracestate *tracestate);

/* Same with an explicit start time (ns since the Unix epoch, 0 = now). */
otelc_span *otelc_span_start_at(otelc_sdk *sdk, const char *name, otelc_span_kind kind,
                                const otelc_span_context *parent,
                                const otelc_tracestate *tracestate, uint64_t start_ns);

bool otelc_span_is_recording(const otelc_span *span);
/* Copies the span's own context (its span id, the trace flags). */
void otelc_span_get_context(const otelc_span *span, otelc_span_context *out);
/* The span's parent context (zeroed for a root span). */
void otelc_span_get_parent(const otelc_span *span, otelc_span_context *out);
/* Borrowed; valid while the span lives. Never NULL. */
const otelc_tracestate *otelc_span_tracestate(const otelc_span *span);

/* Attribute setters; no-ops on non-recording spans. Values are copied. */
void otelc_span_set_name(otelc_span *span, const char *name);
void otelc_span_set_attr_str(otelc_span *span, const char *key, const char *value);
void otelc_span_set_attr_int(otelc_span *span, const char *key, int64_t value);
void otelc_span_set_attr_double(otelc_span *span, const char *key, double value);
void otelc_span_set_attr_bool(otelc_span *span, const char *key, bool value);
/* Copies all of `attrs` (may be NULL) into the span. */
void otelc_span_set_attrs(otelc_span *span, const otelc_attributes *attrs);
/* Adds an event now; attrs (may be NULL) are copied. */
void otelc_span_add_event(otelc_span *span, const char *name, const otelc_attributes *attrs);
/* Sets the status; description is kept only for ERROR. OK is final. */
void otelc_span_set_status(otelc_span *span, otelc_status_code code, const char *description);

/* Ends the span (end time = now / end_ns) and transfers it to the SDK. */
void otelc_span_end(otelc_span *span);
void otelc_span_end_at(otelc_span *span, uint64_t end_ns);
/* Discards the span without exporting. NULL allowed. */
void otelc_span_free(otelc_span *span);

/* Nanoseconds since the Unix epoch (CLOCK_REALTIME). */
uint64_t otelc_now_ns(void);

#ifdef __cplusplus
}
#endif
#endif

/* otelc/propagation.h - W3C Trace Context (traceparent, tracestate) and
 * W3C Baggage parse/format, plus extract/inject over a list of headers.
 *
 * Parsing follows W3C Trace Context level 1/2 strictly:
 *  - traceparent: lowercase hex only; version ff invalid; version 00 must end
 *    right after the flags; a higher version is parsed by its first four
 *    fields and may continue only with '-'; all-zero trace-id / parent-id
 *    invalid; leading/trailing spaces and tabs tolerated; two values invalid.
 *  - tracestate: several values combined in order, empty members tolerated,
 *    OWS around ',' ignored; keys [a-z0-9][a-z0-9_\-*\/]{0,255} or the
 *    tenant@system form; values 0x20-0x7E except ',' and '=', no trailing
 *    space; more than 32 members, a duplicate key or any invalid member
 *    discards the whole tracestate.
 *  - baggage: key=value[;property]* members, OWS ignored, values
 *    percent-decoded; invalid members are skipped; at most 64 members and
 *    8192 bytes are kept, whole members only.
 *
 * Handles: otelc_tracestate and otelc_baggage, from _new / _dup / _parse,
 * released with _free (caller owns). Strings returned by _format are released
 * with otelc_string_free. Handles are not thread-safe; share copies (_dup).
 */
#ifndef OTELC_PROPAGATION_H
#define OTELC_PROPAGATION_H

#include "otelc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OTELC_TRACEPARENT_LEN 55 /* "00-" + 32 + "-" + 16 + "-" + 2 */
#define OTELC_TRACESTATE_MAX_MEMBERS 32
#define OTELC_BAGGAGE_MAX_MEMBERS 64
#define OTELC_BAGGAGE_MAX_BYTES 8192

/* ---- traceparent ---- */

/* Parses one traceparent value of `len` bytes (no NUL needed). On success
 * fills *out (is_remote = true) and returns OTELC_OK; otherwise returns
 * OTELC_ERR_INVALID and leaves *out zeroed. */
int otelc_traceparent_parse(const char *value, size_t len, otelc_span_context *out);

/* Formats as version 00: writes exactly 55 chars plus NUL into out.
 * Only bits 0x01 and 0x02 of trace_flags are emitted. Returns
 * OTELC_ERR_INVALID (and writes "") for an invalid context. */
int otelc_traceparent_format(const otelc_span_context *sc, char out[OTELC_TRACEPARENT_LEN + 1]);

/* ---- tracestate ---- */

typedef struct otelc_tracestate otelc_tracestate;

otelc_tracestate *otelc_tracestate_new(void);
otelc_tracestate *otelc_tracestate_dup(const otelc_tracestate *ts); /* NULL -> empty */
void otelc_tracestate_free(otelc_tracestate *ts);                   /* NULL allowed */

/* Parses `n` header values (values[i] of lens[i] bytes) combined in order.
 * On success *out receives a new handle (possibly empty). On any violation
 * returns OTELC_ERR_INVALID / OTELC_ERR_LIMIT and *out is set to NULL. */
int otelc_tracestate_parse(const char *const *values, const size_t *lens, size_t n,
                           otelc_tracestate **out);

size_t otelc_tracestate_count(const otelc_tracestate *ts); /* NULL -> 0 */
/* Borrowed pointers, valid until the handle changes. */
int otelc_tracestate_get(const otelc_tracestate *ts, size_t i, const char **key,
                         const char **value);
/* Returns the value for key or NULL (borrowed). */
const char *otelc_tracestate_find(const otelc_tracestate *ts, const char *key);
/* Adds or updates `key` and moves it to the front (the participant's own
 * entry). Validates key and value; drops the last member when over 32. */
int otelc_tracestate_set(otelc_tracestate *ts, const char *key, const char *value);
int otelc_tracestate_remove(otelc_tracestate *ts, const char *key);
/* "k1=v1,k2=v2"; "" when empty. NULL on allocation failure. */
char *otelc_tracestate_format(const otelc_tracestate *ts);

/* ---- baggage ---- */

typedef struct otelc_baggage otelc_baggage;

otelc_baggage *otelc_baggage_new(void);
otelc_baggage *otelc_baggage_dup(const otelc_baggage *b); /* NULL -> empty */
void otelc_baggage_free(otelc_baggage *b);                /* NULL allowed */

/* Parses and combines `n` header values. Always succeeds unless out of
 * memory (invalid members are skipped); *out receives a new handle. */
int otelc_baggage_parse(const char *const *values, const size_t *lens, size_t n,
                        otelc_baggage **out);

size_t otelc_baggage_count(const otelc_baggage *b);
/* Borrowed pointers. `value` is decoded; `properties` is the raw text after
 * the first ';' (without it), "" when none. Any out pointer may be NULL. */
int otelc_baggage_get(const otelc_baggage *b, size_t i, const char **key, const char **value,
                      const char **properties);
const char *otelc_baggage_find(const otelc_baggage *b, const char *key);
/* Adds or replaces a member; properties may be NULL. */
int otelc_baggage_set(otelc_baggage *b, const char *key, const char *value,
                      const char *properties);
/* "k=percent-encoded-v;props,..."; "" when empty. */
char *otelc_baggage_format(const otelc_baggage *b);

/* ---- extract / inject ---- */

#define OTELC_PROPAGATOR_TRACECONTEXT 0x1u
#define OTELC_PROPAGATOR_BAGGAGE 0x2u

/* Extracts from a header list (key match is case-insensitive; repeated keys
 * are combined as repeated HTTP headers). `propagators` is a mask of
 * OTELC_PROPAGATOR_*. Outputs (each may be NULL if not wanted):
 *   *parent  - valid remote context, or zeroed when absent / invalid;
 *   *ts      - new tracestate handle, NULL when traceparent invalid or
 *              tracestate invalid/absent;
 *   *baggage - new baggage handle, NULL when absent.
 * Returns OTELC_OK when a valid traceparent was found, OTELC_ERR_INVALID
 * otherwise (the other outputs are still filled). */
int otelc_extract(unsigned propagators, const otelc_header *headers, size_t n,
                  otelc_span_context *parent, otelc_tracestate **ts, otelc_baggage **baggage);

/* Called once per header to add; key and value are NUL-terminated and only
 * valid during the call. */
typedef void (*otelc_header_setter)(void *carrier, const char *key, const char *value);

/* Injects traceparent (+ tracestate when non-empty) and baggage (when
 * non-empty) according to `propagators`. sc may be invalid (then nothing is
 * injected for trace context). Returns the number of headers set. */
int otelc_inject(unsigned propagators, const otelc_span_context *sc, const otelc_tracestate *ts,
                 const otelc_baggage *baggage, otelc_header_setter set, void *carrier);

#ifdef __cplusplus
}
#endif
#endif

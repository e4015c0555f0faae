/* otelc/common.h - shared types of the otelc tracing library.
 *
 * otelc is a small OpenTelemetry-style tracing library for C (traces, metrics,
 * logs exported as OTLP/HTTP JSON). All public types are either plain value
 * structs (copied freely) or opaque handles created by a `_new` (or `_start`)
 * function and released by the matching `_free` (or `_end`) function.
 *
 * Ownership rule used in every header: a `const T *` argument is borrowed and
 * copied if kept; a `T **out` argument receives a new handle the caller owns;
 * a `char *` return value is heap-allocated and released with otelc_string_free.
 */
#ifndef OTELC_COMMON_H
#define OTELC_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OTELC_VERSION "0.1.0"

/* Result codes. 0 is success, every error is negative. */
typedef enum otelc_result {
  OTELC_OK = 0,
  OTELC_ERR_INVALID = -1, /* input violates the grammar / rules */
  OTELC_ERR_NOMEM = -2,   /* allocation failed */
  OTELC_ERR_LIMIT = -3,   /* a size / count limit was exceeded */
  OTELC_ERR_STATE = -4    /* operation not allowed in the current state */
} otelc_result;

/* Identity of a span as it travels between processes. Plain value type. */
typedef struct otelc_span_context {
  uint8_t trace_id[16];
  uint8_t span_id[8];
  uint8_t trace_flags; /* bit 0x01 sampled, bit 0x02 random (W3C level 2) */
  bool is_remote;      /* extracted from an incoming request */
} otelc_span_context;

#define OTELC_FLAG_SAMPLED 0x01u
#define OTELC_FLAG_RANDOM 0x02u

/* A context is valid when neither id is all zeroes. */
bool otelc_span_context_is_valid(const otelc_span_context *sc);

/* Lowercase hex of the ids. `out` must hold 33 (trace) / 17 (span) bytes;
 * it is NUL-terminated. An all-zero id is written as zeroes. */
void otelc_trace_id_hex(const otelc_span_context *sc, char out[33]);
void otelc_span_id_hex(const otelc_span_context *sc, char out[17]);

/* Releases a string returned by any otelc function. NULL is allowed. */
void otelc_string_free(char *s);

/* One request header / gRPC metadata entry, borrowed (not NUL-terminated). */
typedef struct otelc_header {
  const char *key;
  size_t key_len;
  const char *value;
  size_t value_len;
} otelc_header;

#ifdef __cplusplus
}
#endif
#endif

/* Internal definitions shared by the otelc sources (not part of the API). */
#ifndef OTELC_INTERNAL_H
#define OTELC_INTERNAL_H

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "otelc/otelc.h"

char *otelc__strndup(const char *s, size_t n);
char *otelc__strdup(const char *s);
/* Percent-decodes s[0..n) into out, which has room for n + 1 bytes, and
 * NUL-terminates it; *out_len (may be NULL) receives the decoded length,
 * which counts any decoded NUL bytes. '+' stays '+' (RFC 3986, not form
 * encoding). OTELC_ERR_INVALID when a '%' is not followed by two hex digits. */
int otelc__pct_decode(const char *s, size_t n, char *out, size_t *out_len);
void otelc__hex(const uint8_t *in, size_t n, char *out); /* writes 2n chars + NUL */
int otelc__random_bytes(void *buf, size_t n);
bool otelc__all_zero(const uint8_t *p, size_t n);
int otelc__casecmp_n(const char *a, size_t an, const char *b);
int otelc__attributes_merge(otelc_attributes *dst, const otelc_attributes *src);
bool otelc__attributes_equal(const otelc_attributes *a, const otelc_attributes *b);
uint64_t otelc__mono_ms(void);

typedef struct otelc_event {
  char *name;
  uint64_t time_ns;
  otelc_attributes *attrs;
} otelc_event;

struct otelc_span {
  otelc_sdk *sdk;
  otelc_span_context ctx;
  otelc_span_context parent;
  otelc_tracestate *ts;
  char *name;
  otelc_span_kind kind;
  uint64_t start_ns, end_ns;
  otelc_attributes *attrs;
  otelc_event *events;
  size_t n_events, cap_events;
  otelc_status_code status;
  char *status_msg;
  bool recording;
  struct otelc_span *next; /* export queue link */
};

typedef struct otelc_log_record {
  uint64_t time_ns;
  int severity;
  char *body;
  otelc_attributes *attrs;
  otelc_span_context ctx; /* zero when none */
  struct otelc_log_record *next;
} otelc_log_record;

typedef struct otelc_hist_point {
  otelc_attributes *attrs;
  uint64_t *counts; /* n_bounds + 1 */
  uint64_t count;
  double sum, min, max;
  struct otelc_hist_point *next;
} otelc_hist_point;

struct otelc_histogram {
  otelc_sdk *sdk;
  char *name, *description, *unit;
  double *bounds;
  size_t n_bounds;
  pthread_mutex_t mu;
  otelc_hist_point *points;
  struct otelc_histogram *next; /* sdk registry link */
};

typedef struct otelc_obs_point {
  otelc_attributes *attrs;
  bool is_int;
  int64_t as_int;
  double as_double;
  struct otelc_obs_point *next;
} otelc_obs_point;

struct otelc_observable {
  otelc_sdk *sdk;
  otelc_observable_kind kind;
  char *name, *description, *unit;
  /* Held while the callback runs, so that otelc_observable_free can wait for
   * a collection in progress before the caller releases user_data. */
  pthread_mutex_t mu;
  otelc_observe_fn callback; /* NULL once unregistered */
  void *user_data;
  bool retired;                  /* guarded by the SDK's lock: frees the name */
  struct otelc_observable *next; /* sdk registry link */
};

void otelc__span_destroy(otelc_span *span);
void otelc__log_destroy(otelc_log_record *r);

/* metrics.c */
void otelc__histogram_destroy(otelc_histogram *h);
void otelc__observable_destroy(otelc_observable *o);
/* Runs the callback; the points (in observation order) are the caller's. */
otelc_obs_point *otelc__observable_collect(otelc_observable *o);
void otelc__obs_points_free(otelc_obs_point *p);

/* sdk.c */
int otelc__sdk_enqueue_span(otelc_sdk *sdk, otelc_span *span); /* takes ownership */
int otelc__sdk_enqueue_log(otelc_sdk *sdk, otelc_log_record *r); /* takes ownership */
bool otelc__sdk_should_sample(otelc_sdk *sdk, const otelc_span_context *parent,
                              const uint8_t trace_id[16]);
bool otelc__sdk_stdout_logs(const otelc_sdk *sdk);
otelc_histogram *otelc__sdk_register_histogram(otelc_sdk *sdk, otelc_histogram *h);
/* OTELC_ERR_STATE when a live observable has that name; then o is the caller's. */
int otelc__sdk_register_observable(otelc_sdk *sdk, otelc_observable *o);
void otelc__sdk_retire_observable(otelc_sdk *sdk, otelc_observable *o);
uint64_t otelc__sdk_start_ns(const otelc_sdk *sdk);
const char *otelc__sdk_scope_name(const otelc_sdk *sdk);

/* otlp_json.c - OTLP/JSON encoders (new references, caller decrefs). */
json_t *otelc__json_attributes(const otelc_attributes *a);
json_t *otelc__json_traces(const otelc_attributes *resource, const char *scope,
                           otelc_span *const *spans, size_t n);
json_t *otelc__json_logs(const otelc_attributes *resource, const char *scope,
                         otelc_log_record *const *recs, size_t n);
/* Returns NULL when no instrument has a data point. Locks each histogram and
 * runs each observable's callback. */
json_t *otelc__json_metrics(const otelc_attributes *resource, const char *scope,
                            otelc_histogram *hists, otelc_observable *observables,
                            uint64_t start_ns, uint64_t now_ns);

/* config.c */
/* Precedence as documented at otelc_sdk_new; NULL on allocation failure. */
otelc_attributes *otelc__build_resource(const otelc_attributes *given, const char *version);

/* otlp_http.c - the OTLP/HTTP transport.
 * otelc__http: one connection's settings and curl handle, from _new, released
 * with _free; used by one thread at a time (the exporter thread). */
typedef struct otelc__http otelc__http;
/* `headers` is the OTEL_EXPORTER_OTLP_HEADERS form (may be NULL), parsed once
 * here; malformed members are reported on stderr and skipped. NULL on failure. */
otelc__http *otelc__http_new(const char *headers, otelc_compression compression,
                             uint32_t timeout_ms);
void otelc__http_free(otelc__http *h); /* NULL allowed */
/* POSTs body[0..len) as application/json (gzipped when so configured),
 * retrying per the OTLP spec within the timeout. false when h is NULL. */
bool otelc__http_post(otelc__http *h, const char *url, const char *body, size_t len);
/* Appends one "Key: value" line per valid member of an OTEL_EXPORTER_OTLP_HEADERS
 * value to *list. Returns how many were added, or OTELC_ERR_NOMEM. */
int otelc__otlp_headers_append(const char *spec, struct curl_slist **list);
/* gzip (RFC 1952) of in[0..n) into a new buffer *out (release with free) of
 * *out_n bytes. OTELC_ERR_NOMEM or OTELC_ERR_LIMIT on failure, *out NULL. */
int otelc__gzip(const void *in, size_t n, unsigned char **out, size_t *out_n);
#endif

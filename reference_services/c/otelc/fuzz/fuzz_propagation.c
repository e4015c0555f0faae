/* libFuzzer target for the W3C traceparent / tracestate / baggage parsers.
 * The input is split on '\n' into header values. Each value is parsed as a
 * traceparent; all values are parsed as combined tracestate and baggage
 * headers. Round-trip properties are asserted (format -> parse again). */
#include <stdlib.h>
#include <string.h>

#include "otelc/propagation.h"

#define MAXV 40

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *vals[MAXV];
  size_t lens[MAXV], n = 0, start = 0;
  const char *d = (const char *)data;
  for (size_t i = 0; i <= size && n < MAXV; i++) {
    if (i == size || d[i] == '\n') {
      vals[n] = d + start;
      lens[n++] = i - start;
      start = i + 1;
    }
  }
  for (size_t i = 0; i < n; i++) {
    otelc_span_context sc;
    if (otelc_traceparent_parse(vals[i], lens[i], &sc) == OTELC_OK) {
      char out[OTELC_TRACEPARENT_LEN + 1];
      if (otelc_traceparent_format(&sc, out) != OTELC_OK) abort();
      otelc_span_context again;
      if (otelc_traceparent_parse(out, strlen(out), &again) != OTELC_OK) abort();
      if (memcmp(again.trace_id, sc.trace_id, 16) || memcmp(again.span_id, sc.span_id, 8)) abort();
    }
  }
  otelc_tracestate *ts = NULL;
  if (otelc_tracestate_parse(vals, lens, n, &ts) == OTELC_OK) {
    if (!ts || otelc_tracestate_count(ts) > OTELC_TRACESTATE_MAX_MEMBERS) abort();
    char *s = otelc_tracestate_format(ts);
    const char *v1[1] = {s};
    size_t l1[1] = {strlen(s)};
    otelc_tracestate *ts2 = NULL;
    if (otelc_tracestate_parse(v1, l1, 1, &ts2) != OTELC_OK) abort();
    if (otelc_tracestate_count(ts2) != otelc_tracestate_count(ts)) abort();
    otelc_tracestate_set(ts2, "fuzz", "1");
    otelc_tracestate_free(ts2);
    otelc_string_free(s);
    otelc_tracestate_free(ts);
  } else if (ts) {
    abort();
  }
  otelc_baggage *b = NULL;
  if (otelc_baggage_parse(vals, lens, n, &b) == OTELC_OK) {
    if (otelc_baggage_count(b) > OTELC_BAGGAGE_MAX_MEMBERS) abort();
    char *s = otelc_baggage_format(b);
    const char *v1[1] = {s};
    size_t l1[1] = {strlen(s)};
    otelc_baggage *b2 = NULL;
    if (otelc_baggage_parse(v1, l1, 1, &b2) != OTELC_OK) abort();
    if (otelc_baggage_count(b2) != otelc_baggage_count(b)) abort();
    otelc_baggage_free(b2);
    otelc_string_free(s);
    otelc_baggage_free(b);
  }
  return 0;
}

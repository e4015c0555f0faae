#include "internal.h"

otelc_span *otelc_span_start_at(otelc_sdk *sdk, const char *name, otelc_span_kind kind,
                                const otelc_span_context *parent,
                                const otelc_tracestate *tracestate, uint64_t start_ns) {
  otelc_span *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->sdk = sdk;
  s->kind = kind;
  s->start_ns = start_ns ? start_ns : otelc_now_ns();
  bool has_parent = otelc_span_context_is_valid(parent);
  if (has_parent) {
    s->parent = *parent;
    memcpy(s->ctx.trace_id, parent->trace_id, 16);
  } else {
    do otelc__random_bytes(s->ctx.trace_id, 16);
    while (otelc__all_zero(s->ctx.trace_id, 16));
  }
  do otelc__random_bytes(s->ctx.span_id, 8);
  while (otelc__all_zero(s->ctx.span_id, 8));
  s->recording = sdk && otelc__sdk_should_sample(sdk, parent, s->ctx.trace_id);
  s->ctx.trace_flags = (uint8_t)((has_parent ? (parent->trace_flags & OTELC_FLAG_RANDOM) : 0) |
                                 (s->recording ? OTELC_FLAG_SAMPLED : 0));
  s->ctx.is_remote = false;
  s->ts = otelc_tracestate_dup(has_parent ? tracestate : NULL);
  s->name = otelc__strdup(name);
  s->attrs = otelc_attributes_new();
  if (!s->ts || !s->name || !s->attrs) {
    otelc__span_destroy(s);
    return NULL;
  }
  return s;
}

otelc_span *otelc_span_start(otelc_sdk *sdk, const char *name, otelc_span_kind kind,
                             const otelc_span_context *parent,
                             const otelc_tracestate *tracestate) {
  return otelc_span_start_at(sdk, name, kind, parent, tracestate, 0);
}

bool otelc_span_is_recording(const otelc_span *s) { return s && s->recording; }
void otelc_span_get_context(const otelc_span *s, otelc_span_context *out) { *out = s->ctx; }
void otelc_span_get_parent(const otelc_span *s, otelc_span_context *out) { *out = s->parent; }
const otelc_tracestate *otelc_span_tracestate(const otelc_span *s) { return s->ts; }

void otelc_span_set_name(otelc_span *s, const char *name) {
  if (!s || !s->recording || !name) return;
  char *n = otelc__strdup(name);
  if (!n) return;
  free(s->name);
  s->name = n;
}

void otelc_span_set_attr_str(otelc_span *s, const char *k, const char *v) {
  if (s && s->recording) otelc_attributes_set_str(s->attrs, k, v);
}
void otelc_span_set_attr_int(otelc_span *s, const char *k, int64_t v) {
  if (s && s->recording) otelc_attributes_set_int(s->attrs, k, v);
}
void otelc_span_set_attr_double(otelc_span *s, const char *k, double v) {
  if (s && s->recording) otelc_attributes_set_double(s->attrs, k, v);
}
void otelc_span_set_attr_bool(otelc_span *s, const char *k, bool v) {
  if (s && s->recording) otelc_attributes_set_bool(s->attrs, k, v);
}
void otelc_span_set_attrs(otelc_span *s, const otelc_attributes *a) {
  if (s && s->recording) otelc__attributes_merge(s->attrs, a);
}

void otelc_span_add_event(otelc_span *s, const char *name, const otelc_attributes *attrs) {
  if (!s || !s->recording || !name) return;
  if (s->n_events == s->cap_events) {
    size_t cap = s->cap_events ? s->cap_events * 2 : 4;
    otelc_event *ev = realloc(s->events, cap * sizeof *ev);
    if (!ev) return;
    s->events = ev;
    s->cap_events = cap;
  }
  otelc_event *e = &s->events[s->n_events];
  e->name = otelc__strdup(name);
  e->attrs = otelc_attributes_dup(attrs);
  e->time_ns = otelc_now_ns();
  if (!e->name || !e->attrs) {
    free(e->name);
    otelc_attributes_free(e->attrs);
    return;
  }
  s->n_events++;
}

void otelc_span_set_status(otelc_span *s, otelc_status_code code, const char *desc) {
  if (!s || !s->recording || s->status == OTELC_STATUS_OK) return;
  if (code == OTELC_STATUS_UNSET) return;
  s->status = code;
  free(s->status_msg);
  s->status_msg = (code == OTELC_STATUS_ERROR && desc) ? otelc__strdup(desc) : NULL;
}

void otelc__span_destroy(otelc_span *s) {
  if (!s) return;
  otelc_tracestate_free(s->ts);
  free(s->name);
  otelc_attributes_free(s->attrs);
  for (size_t i = 0; i < s->n_events; i++) {
    free(s->events[i].name);
    otelc_attributes_free(s->events[i].attrs);
  }
  free(s->events);
  free(s->status_msg);
  free(s);
}

void otelc_span_free(otelc_span *s) { otelc__span_destroy(s); }

void otelc_span_end_at(otelc_span *s, uint64_t end_ns) {
  if (!s) return;
  s->end_ns = end_ns ? end_ns : otelc_now_ns();
  if (s->end_ns < s->start_ns) s->end_ns = s->start_ns;
  if (!s->recording || !s->sdk) {
    otelc__span_destroy(s);
    return;
  }
  otelc__sdk_enqueue_span(s->sdk, s);
}

void otelc_span_end(otelc_span *s) { otelc_span_end_at(s, 0); }

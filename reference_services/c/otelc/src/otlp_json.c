/* OTLP/JSON encoding: lowerCamelCase field names, hex ids, enums as ints,
 * 64-bit integers as decimal strings. */
#include <inttypes.h>
#include <stdio.h>

#include "internal.h"

static json_t *u64s(uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof buf, "%" PRIu64, v);
  return json_string(buf);
}

static json_t *i64s(int64_t v) {
  char buf[24];
  snprintf(buf, sizeof buf, "%" PRId64, v);
  return json_string(buf);
}

json_t *otelc__json_attributes(const otelc_attributes *a) {
  json_t *arr = json_array();
  otelc_attr_view v;
  for (size_t i = 0; i < otelc_attributes_count(a); i++) {
    otelc_attributes_get(a, i, &v);
    json_t *val = NULL;
    switch (v.type) {
    case OTELC_ATTR_STRING: val = json_pack("{s:s}", "stringValue", v.str_value); break;
    case OTELC_ATTR_BOOL: val = json_pack("{s:b}", "boolValue", v.bool_value); break;
    case OTELC_ATTR_INT: val = json_pack("{s:o}", "intValue", i64s(v.int_value)); break;
    case OTELC_ATTR_DOUBLE: val = json_pack("{s:f}", "doubleValue", v.double_value); break;
    }
    if (!val) continue; /* e.g. invalid UTF-8 */
    json_array_append_new(arr, json_pack("{s:s,s:o}", "key", v.key, "value", val));
  }
  return arr;
}

static json_t *resource_json(const otelc_attributes *resource) {
  return json_pack("{s:o}", "attributes", otelc__json_attributes(resource));
}

static json_t *scope_json(const char *scope) {
  return json_pack("{s:s,s:s}", "name", scope, "version", OTELC_VERSION);
}

/* jansson rejects invalid UTF-8; fall back to a placeholder instead of NULL. */
static json_t *safe_str(const char *s) {
  json_t *j = json_string(s ? s : "");
  return j ? j : json_string("<invalid utf-8>");
}

static json_t *span_json(const otelc_span *s) {
  char tid[33], sid[17], pid[17];
  otelc__hex(s->ctx.trace_id, 16, tid);
  otelc__hex(s->ctx.span_id, 8, sid);
  json_t *j = json_object();
  json_object_set_new(j, "traceId", json_string(tid));
  json_object_set_new(j, "spanId", json_string(sid));
  if (otelc_span_context_is_valid(&s->parent)) {
    otelc__hex(s->parent.span_id, 8, pid);
    json_object_set_new(j, "parentSpanId", json_string(pid));
  }
  if (otelc_tracestate_count(s->ts) > 0) {
    char *ts = otelc_tracestate_format(s->ts);
    if (ts) json_object_set_new(j, "traceState", json_string(ts));
    free(ts);
  }
  json_object_set_new(j, "name", safe_str(s->name));
  json_object_set_new(j, "kind", json_integer(s->kind));
  json_object_set_new(j, "startTimeUnixNano", u64s(s->start_ns));
  json_object_set_new(j, "endTimeUnixNano", u64s(s->end_ns));
  json_object_set_new(j, "attributes", otelc__json_attributes(s->attrs));
  if (s->n_events) {
    json_t *evs = json_array();
    for (size_t i = 0; i < s->n_events; i++)
      json_array_append_new(evs, json_pack("{s:o,s:o,s:o}", "timeUnixNano",
                                           u64s(s->events[i].time_ns), "name",
                                           safe_str(s->events[i].name), "attributes",
                                           otelc__json_attributes(s->events[i].attrs)));
    json_object_set_new(j, "events", evs);
  }
  json_t *st = json_object();
  json_object_set_new(st, "code", json_integer(s->status));
  if (s->status == OTELC_STATUS_ERROR && s->status_msg)
    json_object_set_new(st, "message", safe_str(s->status_msg));
  json_object_set_new(j, "status", st);
  return j;
}

json_t *otelc__json_traces(const otelc_attributes *resource, const char *scope,
                           otelc_span *const *spans, size_t n) {
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(arr, span_json(spans[i]));
  return json_pack("{s:[{s:o,s:[{s:o,s:o}]}]}", "resourceSpans", "resource",
                   resource_json(resource), "scopeSpans", "scope", scope_json(scope), "spans",
                   arr);
}

json_t *otelc__json_logs(const otelc_attributes *resource, const char *scope,
                         otelc_log_record *const *recs, size_t n) {
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++) {
    const otelc_log_record *r = recs[i];
    json_t *j = json_object();
    json_object_set_new(j, "timeUnixNano", u64s(r->time_ns));
    json_object_set_new(j, "observedTimeUnixNano", u64s(r->time_ns));
    json_object_set_new(j, "severityNumber", json_integer(r->severity));
    json_object_set_new(j, "severityText", json_string(otelc_severity_text(r->severity)));
    json_object_set_new(j, "body", json_pack("{s:o}", "stringValue", safe_str(r->body)));
    json_object_set_new(j, "attributes", otelc__json_attributes(r->attrs));
    if (otelc_span_context_is_valid(&r->ctx)) {
      char tid[33], sid[17];
      otelc__hex(r->ctx.trace_id, 16, tid);
      otelc__hex(r->ctx.span_id, 8, sid);
      json_object_set_new(j, "traceId", json_string(tid));
      json_object_set_new(j, "spanId", json_string(sid));
      json_object_set_new(j, "flags", json_integer(r->ctx.trace_flags & 0xff));
    }
    json_array_append_new(arr, j);
  }
  return json_pack("{s:[{s:o,s:[{s:o,s:o}]}]}", "resourceLogs", "resource",
                   resource_json(resource), "scopeLogs", "scope", scope_json(scope), "logRecords",
                   arr);
}

static json_t *histogram_json(otelc_histogram *h, uint64_t start_ns, uint64_t now_ns) {
  pthread_mutex_lock(&h->mu);
  if (!h->points) {
    pthread_mutex_unlock(&h->mu);
    return NULL;
  }
  json_t *dps = json_array();
  for (otelc_hist_point *p = h->points; p; p = p->next) {
    json_t *counts = json_array(), *bounds = json_array();
    for (size_t i = 0; i <= h->n_bounds; i++) json_array_append_new(counts, u64s(p->counts[i]));
    for (size_t i = 0; i < h->n_bounds; i++) json_array_append_new(bounds, json_real(h->bounds[i]));
    json_array_append_new(
        dps, json_pack("{s:o,s:o,s:o,s:o,s:f,s:o,s:o,s:f,s:f}", "attributes",
                       otelc__json_attributes(p->attrs), "startTimeUnixNano", u64s(start_ns),
                       "timeUnixNano", u64s(now_ns), "count", u64s(p->count), "sum", p->sum,
                       "bucketCounts", counts, "explicitBounds", bounds, "min", p->min, "max",
                       p->max));
  }
  pthread_mutex_unlock(&h->mu);
  return json_pack("{s:s,s:s,s:s,s:{s:o,s:i}}", "name", h->name, "description", h->description,
                   "unit", h->unit, "histogram", "dataPoints", dps, "aggregationTemporality",
                   2 /* CUMULATIVE */);
}

static json_t *observable_json(otelc_observable *o, uint64_t start_ns, uint64_t now_ns) {
  otelc_obs_point *points = otelc__observable_collect(o);
  if (!points) return NULL;
  bool gauge = o->kind == OTELC_OBSERVABLE_GAUGE;
  json_t *dps = json_array();
  for (otelc_obs_point *p = points; p; p = p->next) {
    json_t *dp = json_pack("{s:o,s:o}", "attributes", otelc__json_attributes(p->attrs),
                           "timeUnixNano", u64s(now_ns));
    /* A gauge's value is not an accumulation, so it has no start. */
    if (!gauge) json_object_set_new(dp, "startTimeUnixNano", u64s(start_ns));
    if (p->is_int) json_object_set_new(dp, "asInt", i64s(p->as_int));
    else json_object_set_new(dp, "asDouble", json_real(p->as_double));
    json_array_append_new(dps, dp);
  }
  otelc__obs_points_free(points);
  json_t *data = gauge ? json_pack("{s:o}", "dataPoints", dps)
                       : json_pack("{s:o,s:i,s:b}", "dataPoints", dps, "aggregationTemporality",
                                   2 /* CUMULATIVE */, "isMonotonic",
                                   o->kind == OTELC_OBSERVABLE_COUNTER);
  return json_pack("{s:s,s:s,s:s,s:o}", "name", o->name, "description", o->description, "unit",
                   o->unit, gauge ? "gauge" : "sum", data);
}

json_t *otelc__json_metrics(const otelc_attributes *resource, const char *scope,
                            otelc_histogram *hists, otelc_observable *observables,
                            uint64_t start_ns, uint64_t now_ns) {
  json_t *metrics = json_array();
  for (otelc_histogram *h = hists; h; h = h->next) {
    json_t *m = histogram_json(h, start_ns, now_ns);
    if (m) json_array_append_new(metrics, m);
  }
  for (otelc_observable *o = observables; o; o = o->next) {
    json_t *m = observable_json(o, start_ns, now_ns);
    if (m) json_array_append_new(metrics, m);
  }
  if (json_array_size(metrics) == 0) {
    json_decref(metrics);
    return NULL;
  }
  return json_pack("{s:[{s:o,s:[{s:o,s:o}]}]}", "resourceMetrics", "resource",
                   resource_json(resource), "scopeMetrics", "scope", scope_json(scope), "metrics",
                   metrics);
}

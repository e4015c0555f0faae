#include <stdio.h>
#include <time.h>

#include "internal.h"

static pthread_mutex_t stdout_mu = PTHREAD_MUTEX_INITIALIZER;

const char *otelc_severity_text(int n) {
  if (n <= 0) return "UNSPECIFIED";
  if (n <= 4) return "TRACE";
  if (n <= 8) return "DEBUG";
  if (n <= 12) return "INFO";
  if (n <= 16) return "WARN";
  if (n <= 20) return "ERROR";
  return "FATAL";
}

void otelc__log_destroy(otelc_log_record *r) {
  if (!r) return;
  free(r->body);
  otelc_attributes_free(r->attrs);
  free(r);
}

static json_t *attrs_object(const otelc_attributes *a) {
  json_t *o = json_object();
  otelc_attr_view v;
  for (size_t i = 0; i < otelc_attributes_count(a); i++) {
    otelc_attributes_get(a, i, &v);
    json_t *j = NULL;
    switch (v.type) {
    case OTELC_ATTR_STRING: j = json_string(v.str_value); break;
    case OTELC_ATTR_BOOL: j = json_boolean(v.bool_value); break;
    case OTELC_ATTR_INT: j = json_integer(v.int_value); break;
    case OTELC_ATTR_DOUBLE: j = json_real(v.double_value); break;
    }
    if (j) json_object_set_new(o, v.key, j);
  }
  return o;
}

static void write_stdout(otelc_sdk *sdk, uint64_t t, int sev, const char *msg,
                         const otelc_attributes *attrs, const otelc_span_context *ctx) {
  char ts[40], tid[33] = "", sid[17] = "";
  time_t secs = (time_t)(t / 1000000000ull);
  struct tm tm;
  gmtime_r(&secs, &tm);
  size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(ts + n, sizeof ts - n, ".%03uZ", (unsigned)((t / 1000000ull) % 1000));
  if (otelc_span_context_is_valid(ctx)) {
    otelc__hex(ctx->trace_id, 16, tid);
    otelc__hex(ctx->span_id, 8, sid);
  }
  json_t *j = json_object();
  json_object_set_new(j, "timestamp", json_string(ts));
  json_object_set_new(j, "level", json_string(otelc_severity_text(sev)));
  json_t *m = json_string(msg ? msg : "");
  json_object_set_new(j, "message", m ? m : json_string("<invalid utf-8>"));
  json_object_set_new(j, "trace_id", json_string(tid));
  json_object_set_new(j, "span_id", json_string(sid));
  json_object_set_new(j, "service", json_string(otelc_sdk_service_name(sdk)));
  json_object_set_new(j, "attributes", attrs_object(attrs));
  char *line = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  if (!line) return;
  pthread_mutex_lock(&stdout_mu);
  fputs(line, stdout);
  fputc('\n', stdout);
  fflush(stdout);
  pthread_mutex_unlock(&stdout_mu);
  free(line);
}

void otelc_log_emit(otelc_sdk *sdk, int severity, const char *message,
                    const otelc_attributes *attrs, const otelc_span_context *active) {
  if (!sdk) return;
  uint64_t t = otelc_now_ns();
  if (otelc__sdk_stdout_logs(sdk)) write_stdout(sdk, t, severity, message, attrs, active);
  if (otelc_sdk_disabled(sdk)) return;
  otelc_log_record *r = calloc(1, sizeof *r);
  if (!r) return;
  r->time_ns = t;
  r->severity = severity;
  r->body = otelc__strdup(message);
  r->attrs = otelc_attributes_dup(attrs);
  if (otelc_span_context_is_valid(active)) r->ctx = *active;
  if (!r->body || !r->attrs) {
    otelc__log_destroy(r);
    return;
  }
  otelc__sdk_enqueue_log(sdk, r);
}

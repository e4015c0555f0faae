/* SDK: bounded queues, the instrument registry and the background exporter
 * thread posting OTLP/HTTP JSON (configuration and resource: config.c,
 * transport: otlp_http.c). */
#include <errno.h>
#include <time.h>

#include "internal.h"

typedef struct queue {
  void *head, *tail; /* otelc_span* or otelc_log_record* linked by ->next */
  size_t n, cap;
} queue;

struct otelc_sdk {
  otelc_config cfg;
  char *traces_url, *metrics_url, *logs_url, *headers, *scope;
  otelc_attributes *resource;
  char *service_name;
  uint64_t start_ns;

  pthread_mutex_t mu;
  pthread_cond_t wake, flushed;
  queue spans, logs;
  otelc_histogram *hists;
  otelc_observable *observables;
  uint64_t flush_requested, flush_done;
  bool shutdown;
  pthread_t thread;
  bool thread_started;
  otelc_sdk_stats stats;

  otelc__http *http; /* exporter thread only; NULL when disabled or not created */
};

/* ------------------------------------------------------------------ */
/* queues                                                              */

static void *q_pop(queue *q, size_t link_off) {
  void *e = q->head;
  if (!e) return NULL;
  q->head = *(void **)((char *)e + link_off);
  if (!q->head) q->tail = NULL;
  q->n--;
  *(void **)((char *)e + link_off) = NULL;
  return e;
}

static bool q_push(queue *q, void *e, size_t link_off) {
  if (q->n >= q->cap) return false;
  *(void **)((char *)e + link_off) = NULL;
  if (q->tail) *(void **)((char *)q->tail + link_off) = e;
  else q->head = e;
  q->tail = e;
  q->n++;
  return true;
}

#define SPAN_LINK offsetof(otelc_span, next)
#define LOG_LINK offsetof(otelc_log_record, next)

int otelc__sdk_enqueue_span(otelc_sdk *sdk, otelc_span *span) {
  pthread_mutex_lock(&sdk->mu);
  bool ok = !sdk->shutdown && q_push(&sdk->spans, span, SPAN_LINK);
  if (!ok) sdk->stats.spans_dropped++;
  if (ok && sdk->spans.n >= sdk->cfg.bsp_max_export_batch) pthread_cond_signal(&sdk->wake);
  pthread_mutex_unlock(&sdk->mu);
  if (!ok) otelc__span_destroy(span);
  return ok ? OTELC_OK : OTELC_ERR_LIMIT;
}

int otelc__sdk_enqueue_log(otelc_sdk *sdk, otelc_log_record *r) {
  pthread_mutex_lock(&sdk->mu);
  bool ok = !sdk->shutdown && q_push(&sdk->logs, r, LOG_LINK);
  if (!ok) sdk->stats.logs_dropped++;
  if (ok && sdk->logs.n >= sdk->cfg.bsp_max_export_batch) pthread_cond_signal(&sdk->wake);
  pthread_mutex_unlock(&sdk->mu);
  if (!ok) otelc__log_destroy(r);
  return ok ? OTELC_OK : OTELC_ERR_LIMIT;
}


static bool post_json(otelc_sdk *sdk, const char *url, json_t *doc) {
  if (!doc) return false;
  char *body = json_dumps(doc, JSON_COMPACT);
  json_decref(doc);
  if (!body) return false;
  bool ok = otelc__http_post(sdk->http, url, body, strlen(body));
  free(body);
  return ok;
}

/* Called without the lock. Exports up to one batch; returns number taken. */
static size_t export_spans(otelc_sdk *sdk) {
  size_t max = sdk->cfg.bsp_max_export_batch ? sdk->cfg.bsp_max_export_batch : 512;
  otelc_span **batch = malloc(max * sizeof *batch);
  size_t n = 0;
  pthread_mutex_lock(&sdk->mu);
  while (batch && n < max && sdk->spans.n) batch[n++] = q_pop(&sdk->spans, SPAN_LINK);
  pthread_mutex_unlock(&sdk->mu);
  if (n) {
    bool ok = post_json(sdk, sdk->traces_url, otelc__json_traces(sdk->resource, sdk->scope, batch, n));
    pthread_mutex_lock(&sdk->mu);
    if (ok) sdk->stats.spans_exported += n;
    else sdk->stats.spans_failed += n;
    pthread_mutex_unlock(&sdk->mu);
    for (size_t i = 0; i < n; i++) otelc__span_destroy(batch[i]);
  }
  free(batch);
  return n;
}

static size_t export_logs(otelc_sdk *sdk) {
  size_t max = 512;
  otelc_log_record **batch = malloc(max * sizeof *batch);
  size_t n = 0;
  pthread_mutex_lock(&sdk->mu);
  while (batch && n < max && sdk->logs.n) batch[n++] = q_pop(&sdk->logs, LOG_LINK);
  pthread_mutex_unlock(&sdk->mu);
  if (n) {
    bool ok = post_json(sdk, sdk->logs_url, otelc__json_logs(sdk->resource, sdk->scope, batch, n));
    pthread_mutex_lock(&sdk->mu);
    if (ok) sdk->stats.logs_exported += n;
    else sdk->stats.logs_failed += n;
    pthread_mutex_unlock(&sdk->mu);
    for (size_t i = 0; i < n; i++) otelc__log_destroy(batch[i]);
  }
  free(batch);
  return n;
}

static void export_metrics(otelc_sdk *sdk) {
  pthread_mutex_lock(&sdk->mu);
  otelc_histogram *hists = sdk->hists; /* lists only grow at the head */
  otelc_observable *observables = sdk->observables;
  pthread_mutex_unlock(&sdk->mu);
  json_t *doc = otelc__json_metrics(sdk->resource, sdk->scope, hists, observables, sdk->start_ns,
                                    otelc_now_ns());
  if (!doc) return;
  bool ok = post_json(sdk, sdk->metrics_url, doc);
  pthread_mutex_lock(&sdk->mu);
  sdk->stats.metric_exports++;
  if (!ok) sdk->stats.metric_exports_failed++;
  pthread_mutex_unlock(&sdk->mu);
}

static void export_all(otelc_sdk *sdk) {
  while (export_spans(sdk)) {
  }
  while (export_logs(sdk)) {
  }
  export_metrics(sdk);
}

static void *exporter_main(void *arg) {
  otelc_sdk *sdk = arg;
  uint64_t now = otelc__mono_ms();
  uint64_t next_span = now + sdk->cfg.bsp_schedule_delay_ms;
  uint64_t next_log = now + sdk->cfg.blrp_schedule_delay_ms;
  uint64_t next_metric = now + sdk->cfg.metric_export_interval_ms;
  pthread_mutex_lock(&sdk->mu);
  for (;;) {
    if (sdk->shutdown) break;
    now = otelc__mono_ms();
    if (sdk->flush_requested > sdk->flush_done) {
      uint64_t target = sdk->flush_requested;
      pthread_mutex_unlock(&sdk->mu);
      export_all(sdk);
      pthread_mutex_lock(&sdk->mu);
      sdk->flush_done = target;
      pthread_cond_broadcast(&sdk->flushed);
      continue;
    }
    bool span_due = now >= next_span || sdk->spans.n >= sdk->cfg.bsp_max_export_batch;
    bool log_due = now >= next_log || sdk->logs.n >= sdk->cfg.bsp_max_export_batch;
    bool metric_due = now >= next_metric;
    if (span_due || log_due || metric_due) {
      pthread_mutex_unlock(&sdk->mu);
      if (span_due) {
        while (export_spans(sdk) >= sdk->cfg.bsp_max_export_batch) {
        }
        next_span = otelc__mono_ms() + sdk->cfg.bsp_schedule_delay_ms;
      }
      if (log_due) {
        while (export_logs(sdk) >= 512) {
        }
        next_log = otelc__mono_ms() + sdk->cfg.blrp_schedule_delay_ms;
      }
      if (metric_due) {
        export_metrics(sdk);
        next_metric = otelc__mono_ms() + sdk->cfg.metric_export_interval_ms;
      }
      pthread_mutex_lock(&sdk->mu);
      continue;
    }
    uint64_t wake = next_span < next_log ? next_span : next_log;
    if (next_metric < wake) wake = next_metric;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t wait_ms = wake > now ? wake - now : 0;
    ts.tv_sec += (time_t)(wait_ms / 1000);
    ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&sdk->wake, &sdk->mu, &ts);
  }
  pthread_mutex_unlock(&sdk->mu);
  export_all(sdk); /* shutdown includes a force flush */
  pthread_mutex_lock(&sdk->mu);
  sdk->flush_done = sdk->flush_requested;
  pthread_cond_broadcast(&sdk->flushed);
  pthread_mutex_unlock(&sdk->mu);
  return NULL;
}

/* ------------------------------------------------------------------ */
/* lifecycle                                                           */

uint64_t otelc__mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

otelc_sdk *otelc_sdk_new(const otelc_config *cfg, const otelc_attributes *resource,
                         const char *service_version) {
  otelc_config def;
  if (!cfg) {
    otelc_config_defaults(&def);
    cfg = &def;
  }
  otelc_sdk *sdk = calloc(1, sizeof *sdk);
  if (!sdk) return NULL;
  sdk->cfg = *cfg;
  if (!sdk->cfg.bsp_max_export_batch) sdk->cfg.bsp_max_export_batch = 512;
  sdk->traces_url = otelc__strdup(cfg->traces_endpoint);
  sdk->metrics_url = otelc__strdup(cfg->metrics_endpoint);
  sdk->logs_url = otelc__strdup(cfg->logs_endpoint);
  sdk->headers = cfg->headers ? otelc__strdup(cfg->headers) : NULL;
  sdk->scope = otelc__strdup(cfg->scope_name ? cfg->scope_name : "otelc");
  sdk->cfg.traces_endpoint = sdk->traces_url;
  sdk->cfg.metrics_endpoint = sdk->metrics_url;
  sdk->cfg.logs_endpoint = sdk->logs_url;
  sdk->cfg.headers = sdk->headers;
  sdk->cfg.scope_name = sdk->scope;
  sdk->resource = otelc__build_resource(resource, service_version);
  sdk->spans.cap = cfg->bsp_max_queue_size;
  sdk->logs.cap = cfg->blrp_max_queue_size;
  sdk->start_ns = otelc_now_ns();
  otelc_attr_view v;
  if (sdk->resource && otelc_attributes_find(sdk->resource, "service.name", &v) == OTELC_OK &&
      v.type == OTELC_ATTR_STRING)
    sdk->service_name = otelc__strdup(v.str_value);
  else
    sdk->service_name = otelc__strdup("unknown_service");
  if (!sdk->traces_url || !sdk->metrics_url || !sdk->logs_url || !sdk->scope || !sdk->resource ||
      !sdk->service_name) {
    otelc_sdk_free(sdk);
    return NULL;
  }
  pthread_mutex_init(&sdk->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&sdk->wake, &ca);
  pthread_cond_init(&sdk->flushed, &ca);
  pthread_condattr_destroy(&ca);
  if (!sdk->cfg.disabled) {
    pthread_once(&curl_once, curl_init_once);
    sdk->http = otelc__http_new(sdk->headers, sdk->cfg.compression, sdk->cfg.export_timeout_ms);
    if (pthread_create(&sdk->thread, NULL, exporter_main, sdk) == 0) sdk->thread_started = true;
  }
  return sdk;
}

otelc_sdk *otelc_sdk_new_from_env(const char *service_version) {
  otelc_config cfg;
  otelc_config_from_env(&cfg);
  return otelc_sdk_new(&cfg, NULL, service_version);
}

int otelc_sdk_force_flush(otelc_sdk *sdk, uint32_t timeout_ms) {
  if (!sdk || !sdk->thread_started) return OTELC_OK;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ts.tv_sec += (time_t)(timeout_ms / 1000);
  ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
  pthread_mutex_lock(&sdk->mu);
  uint64_t gen = ++sdk->flush_requested;
  pthread_cond_signal(&sdk->wake);
  int rc = OTELC_OK;
  while (sdk->flush_done < gen) {
    if (pthread_cond_timedwait(&sdk->flushed, &sdk->mu, &ts) == ETIMEDOUT) {
      rc = OTELC_ERR_STATE;
      break;
    }
  }
  pthread_mutex_unlock(&sdk->mu);
  return rc;
}

void otelc_sdk_free(otelc_sdk *sdk) {
  if (!sdk) return;
  if (sdk->thread_started) {
    pthread_mutex_lock(&sdk->mu);
    sdk->shutdown = true;
    pthread_cond_signal(&sdk->wake);
    pthread_mutex_unlock(&sdk->mu);
    pthread_join(sdk->thread, NULL);
    pthread_mutex_destroy(&sdk->mu);
    pthread_cond_destroy(&sdk->wake);
    pthread_cond_destroy(&sdk->flushed);
  }
  otelc_span *s;
  while ((s = q_pop(&sdk->spans, SPAN_LINK))) otelc__span_destroy(s);
  otelc_log_record *r;
  while ((r = q_pop(&sdk->logs, LOG_LINK))) otelc__log_destroy(r);
  for (otelc_histogram *h = sdk->hists, *nx; h; h = nx) {
    nx = h->next;
    otelc__histogram_destroy(h);
  }
  for (otelc_observable *o = sdk->observables, *nx; o; o = nx) {
    nx = o->next;
    otelc__observable_destroy(o);
  }
  otelc__http_free(sdk->http);
  otelc_attributes_free(sdk->resource);
  free(sdk->traces_url), free(sdk->metrics_url), free(sdk->logs_url);
  free(sdk->headers), free(sdk->scope), free(sdk->service_name);
  free(sdk);
}

const otelc_attributes *otelc_sdk_resource(const otelc_sdk *sdk) { return sdk->resource; }
const char *otelc_sdk_service_name(const otelc_sdk *sdk) { return sdk->service_name; }
unsigned otelc_sdk_propagators(const otelc_sdk *sdk) { return sdk->cfg.propagators; }
bool otelc_sdk_disabled(const otelc_sdk *sdk) { return sdk->cfg.disabled; }
bool otelc__sdk_stdout_logs(const otelc_sdk *sdk) { return sdk->cfg.stdout_logs; }
uint64_t otelc__sdk_start_ns(const otelc_sdk *sdk) { return sdk->start_ns; }
const char *otelc__sdk_scope_name(const otelc_sdk *sdk) { return sdk->scope; }

void otelc_sdk_get_stats(otelc_sdk *sdk, otelc_sdk_stats *out) {
  pthread_mutex_lock(&sdk->mu);
  *out = sdk->stats;
  pthread_mutex_unlock(&sdk->mu);
}

otelc_histogram *otelc__sdk_register_histogram(otelc_sdk *sdk, otelc_histogram *h) {
  pthread_mutex_lock(&sdk->mu);
  for (otelc_histogram *e = sdk->hists; e; e = e->next)
    if (strcmp(e->name, h->name) == 0) {
      pthread_mutex_unlock(&sdk->mu);
      return e; /* caller frees h */
    }
  h->next = sdk->hists;
  sdk->hists = h;
  pthread_mutex_unlock(&sdk->mu);
  return h;
}

int otelc__sdk_register_observable(otelc_sdk *sdk, otelc_observable *o) {
  pthread_mutex_lock(&sdk->mu);
  for (otelc_observable *e = sdk->observables; e; e = e->next)
    if (!e->retired && strcmp(e->name, o->name) == 0) {
      pthread_mutex_unlock(&sdk->mu);
      return OTELC_ERR_STATE;
    }
  o->next = sdk->observables;
  sdk->observables = o;
  pthread_mutex_unlock(&sdk->mu);
  return OTELC_OK;
}

void otelc__sdk_retire_observable(otelc_sdk *sdk, otelc_observable *o) {
  pthread_mutex_lock(&sdk->mu);
  o->retired = true;
  pthread_mutex_unlock(&sdk->mu);
}

bool otelc__sdk_should_sample(otelc_sdk *sdk, const otelc_span_context *parent,
                              const uint8_t trace_id[16]) {
  if (sdk->cfg.disabled) return false;
  bool has_parent = otelc_span_context_is_valid(parent);
  otelc_sampler s = sdk->cfg.sampler;
  if (s == OTELC_SAMPLER_PARENTBASED_ALWAYS_ON || s == OTELC_SAMPLER_PARENTBASED_ALWAYS_OFF ||
      s == OTELC_SAMPLER_PARENTBASED_TRACEIDRATIO) {
    if (has_parent) return (parent->trace_flags & OTELC_FLAG_SAMPLED) != 0;
    if (s == OTELC_SAMPLER_PARENTBASED_ALWAYS_ON) return true;
    if (s == OTELC_SAMPLER_PARENTBASED_ALWAYS_OFF) return false;
  }
  if (s == OTELC_SAMPLER_ALWAYS_ON) return true;
  if (s == OTELC_SAMPLER_ALWAYS_OFF) return false;
  /* trace id ratio: low 8 bytes (big endian) >> 1 compared with ratio * 2^63 */
  uint64_t x = 0;
  for (int i = 8; i < 16; i++) x = (x << 8) | trace_id[i];
  double r = sdk->cfg.sampler_ratio;
  if (r >= 1.0) return true;
  if (r <= 0.0) return false;
  return (x >> 1) < (uint64_t)(r * 9223372036854775808.0);
}

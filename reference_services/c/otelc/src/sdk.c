/* SDK: configuration from OTEL_* variables, resource, bounded queues and the
 * background exporter thread posting OTLP/HTTP JSON with libcurl. */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

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
  uint64_t flush_requested, flush_done;
  bool shutdown;
  pthread_t thread;
  bool thread_started;
  otelc_sdk_stats stats;

  CURL *curl; /* used by the exporter thread only */
};

/* ------------------------------------------------------------------ */
/* configuration                                                       */

static const char *env(const char *name) {
  const char *v = getenv(name);
  return (v && *v) ? v : NULL;
}

static uint32_t env_u32(const char *name, uint32_t def) {
  const char *v = env(name);
  if (!v) return def;
  char *end;
  errno = 0;
  unsigned long x = strtoul(v, &end, 10);
  if (errno || end == v || *end || x > 0xffffffffUL) {
    fprintf(stderr, "otelc: ignoring invalid %s=%s\n", name, v);
    return def;
  }
  return (uint32_t)x;
}

void otelc_config_defaults(otelc_config *c) {
  memset(c, 0, sizeof *c);
  c->traces_endpoint = "http://localhost:4318/v1/traces";
  c->metrics_endpoint = "http://localhost:4318/v1/metrics";
  c->logs_endpoint = "http://localhost:4318/v1/logs";
  c->export_timeout_ms = 10000;
  c->bsp_schedule_delay_ms = 5000;
  c->bsp_max_queue_size = 2048;
  c->bsp_max_export_batch = 512;
  c->blrp_schedule_delay_ms = 1000;
  c->blrp_max_queue_size = 2048;
  c->metric_export_interval_ms = 60000;
  c->sampler = OTELC_SAMPLER_PARENTBASED_ALWAYS_ON;
  c->sampler_ratio = 1.0;
  c->propagators = OTELC_PROPAGATOR_TRACECONTEXT | OTELC_PROPAGATOR_BAGGAGE;
  c->stdout_logs = true;
  c->scope_name = "otelc";
}

/* Endpoint strings built from OTEL_EXPORTER_OTLP_ENDPOINT live here. */
static char g_ep[3][1024];

static const char *signal_url(int idx, const char *specific, const char *base, const char *path,
                              const char *def) {
  const char *s = env(specific);
  if (s) return s;
  if (!base) return def;
  size_t n = strlen(base);
  while (n > 0 && base[n - 1] == '/') n--;
  snprintf(g_ep[idx], sizeof g_ep[idx], "%.*s%s", (int)n, base, path);
  return g_ep[idx];
}

void otelc_config_from_env(otelc_config *c) {
  otelc_config_defaults(c);
  const char *dis = env("OTEL_SDK_DISABLED");
  c->disabled = dis && strcasecmp(dis, "true") == 0;
  const char *base = env("OTEL_EXPORTER_OTLP_ENDPOINT");
  c->traces_endpoint = signal_url(0, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", base, "/v1/traces",
                                  c->traces_endpoint);
  c->metrics_endpoint = signal_url(1, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", base, "/v1/metrics",
                                   c->metrics_endpoint);
  c->logs_endpoint =
      signal_url(2, "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", base, "/v1/logs", c->logs_endpoint);
  const char *proto = env("OTEL_EXPORTER_OTLP_PROTOCOL");
  if (proto && strcmp(proto, "http/json") != 0)
    fprintf(stderr,
            "otelc: OTEL_EXPORTER_OTLP_PROTOCOL=%s is not supported, exporting http/json\n",
            proto);
  const char *comp = env("OTEL_EXPORTER_OTLP_COMPRESSION");
  if (comp && strcmp(comp, "none") != 0)
    fprintf(stderr, "otelc: OTEL_EXPORTER_OTLP_COMPRESSION=%s is not supported, sending none\n",
            comp);
  c->headers = env("OTEL_EXPORTER_OTLP_HEADERS");
  c->export_timeout_ms = env_u32("OTEL_EXPORTER_OTLP_TIMEOUT", c->export_timeout_ms);
  c->bsp_schedule_delay_ms = env_u32("OTEL_BSP_SCHEDULE_DELAY", c->bsp_schedule_delay_ms);
  c->bsp_max_queue_size = env_u32("OTEL_BSP_MAX_QUEUE_SIZE", c->bsp_max_queue_size);
  c->bsp_max_export_batch = env_u32("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", c->bsp_max_export_batch);
  c->blrp_schedule_delay_ms = env_u32("OTEL_BLRP_SCHEDULE_DELAY", c->blrp_schedule_delay_ms);
  c->blrp_max_queue_size = env_u32("OTEL_BLRP_MAX_QUEUE_SIZE", c->blrp_max_queue_size);
  c->metric_export_interval_ms =
      env_u32("OTEL_METRIC_EXPORT_INTERVAL", c->metric_export_interval_ms);
  const char *s = env("OTEL_TRACES_SAMPLER");
  if (s) {
    if (!strcmp(s, "always_on")) c->sampler = OTELC_SAMPLER_ALWAYS_ON;
    else if (!strcmp(s, "always_off")) c->sampler = OTELC_SAMPLER_ALWAYS_OFF;
    else if (!strcmp(s, "traceidratio")) c->sampler = OTELC_SAMPLER_TRACEIDRATIO;
    else if (!strcmp(s, "parentbased_always_on")) c->sampler = OTELC_SAMPLER_PARENTBASED_ALWAYS_ON;
    else if (!strcmp(s, "parentbased_always_off")) c->sampler = OTELC_SAMPLER_PARENTBASED_ALWAYS_OFF;
    else if (!strcmp(s, "parentbased_traceidratio"))
      c->sampler = OTELC_SAMPLER_PARENTBASED_TRACEIDRATIO;
    else fprintf(stderr, "otelc: unknown OTEL_TRACES_SAMPLER=%s, using parentbased_always_on\n", s);
  }
  const char *arg = env("OTEL_TRACES_SAMPLER_ARG");
  if (arg && (c->sampler == OTELC_SAMPLER_TRACEIDRATIO ||
              c->sampler == OTELC_SAMPLER_PARENTBASED_TRACEIDRATIO)) {
    char *end;
    double r = strtod(arg, &end);
    if (end != arg && !*end && r >= 0.0 && r <= 1.0) c->sampler_ratio = r;
    else fprintf(stderr, "otelc: invalid OTEL_TRACES_SAMPLER_ARG=%s, using 1.0\n", arg);
  }
  const char *props = env("OTEL_PROPAGATORS");
  if (props) {
    unsigned mask = 0;
    const char *p = props;
    while (*p) {
      const char *comma = strchr(p, ',');
      size_t n = comma ? (size_t)(comma - p) : strlen(p);
      while (n && (*p == ' ' || *p == '\t')) p++, n--;
      while (n && (p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
      if (n == 12 && !strncmp(p, "tracecontext", 12)) mask |= OTELC_PROPAGATOR_TRACECONTEXT;
      else if (n == 7 && !strncmp(p, "baggage", 7)) mask |= OTELC_PROPAGATOR_BAGGAGE;
      else if (n == 4 && !strncmp(p, "none", 4)) mask = 0;
      else if (n) fprintf(stderr, "otelc: unsupported propagator '%.*s' ignored\n", (int)n, p);
      if (!comma) break;
      p = comma + 1;
    }
    c->propagators = mask;
  }
}

/* ------------------------------------------------------------------ */
/* resource                                                            */

static int pct_decode(const char *s, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%') {
      if (i + 2 >= n || !isxdigit((unsigned char)s[i + 1]) || !isxdigit((unsigned char)s[i + 2]))
        return -1;
      char hex[3] = {s[i + 1], s[i + 2], 0};
      long v = strtol(hex, NULL, 16);
      out[o++] = (char)v;
      i += 2;
    } else {
      out[o++] = s[i];
    }
  }
  out[o] = 0;
  return 0;
}

/* Parses OTEL_RESOURCE_ATTRIBUTES; on any error the whole value is discarded. */
static otelc_attributes *parse_resource_env(const char *v) {
  otelc_attributes *a = otelc_attributes_new();
  if (!a || !v) return a;
  otelc_attributes *tmp = otelc_attributes_new();
  char *buf = malloc(strlen(v) + 1), *kb = malloc(strlen(v) + 1);
  bool ok = tmp && buf && kb;
  const char *p = v;
  while (ok && *p) {
    const char *comma = strchr(p, ',');
    size_t n = comma ? (size_t)(comma - p) : strlen(p);
    const char *eq = memchr(p, '=', n);
    if (!eq) {
      /* tolerate empty items, reject others */
      for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t') ok = false;
    } else {
      const char *k = p, *val = eq + 1;
      size_t kn = (size_t)(eq - p), vn = n - kn - 1;
      while (kn && (*k == ' ' || *k == '\t')) k++, kn--;
      while (kn && (k[kn - 1] == ' ' || k[kn - 1] == '\t')) kn--;
      while (vn && (*val == ' ' || *val == '\t')) val++, vn--;
      while (vn && (val[vn - 1] == ' ' || val[vn - 1] == '\t')) vn--;
      if (!kn || pct_decode(k, kn, kb) || pct_decode(val, vn, buf)) ok = false;
      else otelc_attributes_set_str(tmp, kb, buf);
    }
    if (!comma) break;
    p = comma + 1;
  }
  if (ok) otelc__attributes_merge(a, tmp);
  else fprintf(stderr, "otelc: invalid OTEL_RESOURCE_ATTRIBUTES discarded\n");
  otelc_attributes_free(tmp);
  free(buf);
  free(kb);
  return a;
}

static void uuid4(char out[37]) {
  uint8_t b[16];
  otelc__random_bytes(b, sizeof b);
  b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
  b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
  char h[33];
  otelc__hex(b, 16, h);
  snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}

static otelc_attributes *build_resource(const otelc_attributes *given, const char *defver) {
  otelc_attributes *r = otelc_attributes_new();
  otelc_attributes *envr = parse_resource_env(env("OTEL_RESOURCE_ATTRIBUTES"));
  if (!r || !envr) {
    otelc_attributes_free(r);
    otelc_attributes_free(envr);
    return NULL;
  }
  char id[37];
  uuid4(id);
  otelc_attributes_set_str(r, "service.name", "unknown_service");
  otelc_attributes_set_str(r, "service.version", defver ? defver : "0.0.0");
  otelc_attributes_set_str(r, "service.instance.id", id);
  otelc_attributes_set_str(r, "telemetry.sdk.name", "otelc");
  otelc_attributes_set_str(r, "telemetry.sdk.language", "c");
  otelc_attributes_set_str(r, "telemetry.sdk.version", OTELC_VERSION);
  otelc__attributes_merge(r, given);
  otelc__attributes_merge(r, envr);
  const char *sn = env("OTEL_SERVICE_NAME");
  if (sn) otelc_attributes_set_str(r, "service.name", sn);
  otelc_attributes_free(envr);
  return r;
}

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

/* ------------------------------------------------------------------ */
/* HTTP export                                                         */

static size_t discard_body(char *p, size_t sz, size_t n, void *ud) {
  (void)p, (void)ud;
  return sz * n;
}

typedef struct hdr_state {
  long retry_after_s;
} hdr_state;

static size_t on_header(char *p, size_t sz, size_t n, void *ud) {
  hdr_state *h = ud;
  size_t len = sz * n;
  if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) h->retry_after_s = strtol(p + 12, NULL, 10);
  return len;
}

static void sleep_ms(uint64_t ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
}

/* Posts body; retries 429/502/503/504 and transport errors with backoff. */
static bool http_post(otelc_sdk *sdk, const char *url, const char *body) {
  if (!sdk->curl) return false;
  CURL *c = sdk->curl;
  struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
  if (sdk->headers) { /* k=v,k2=v2 */
    char *copy = otelc__strdup(sdk->headers), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
      char *eq = strchr(tok, '=');
      if (!eq) continue;
      *eq = 0;
      char line[1024];
      snprintf(line, sizeof line, "%s: %s", tok, eq + 1);
      hdrs = curl_slist_append(hdrs, line);
    }
    free(copy);
  }
  uint64_t deadline = otelc__mono_ms() + sdk->cfg.export_timeout_ms;
  uint64_t backoff = 100;
  bool ok = false;
  for (int attempt = 0; attempt < 5; attempt++) {
    hdr_state hs = {-1};
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hs);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    uint64_t now = otelc__mono_ms();
    if (now >= deadline) break;
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(deadline - now));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(deadline - now));
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (rc == CURLE_OK && status >= 200 && status < 300) {
      ok = true;
      break;
    }
    bool retry = rc == CURLE_OK
                     ? (status == 429 || status == 502 || status == 503 || status == 504)
                     : (rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT ||
                        rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING);
    if (!retry) {
      fprintf(stderr, "otelc: export to %s failed: %s (HTTP %ld)\n", url,
              rc == CURLE_OK ? "rejected" : curl_easy_strerror(rc), status);
      break;
    }
    uint64_t wait = backoff + (uint64_t)(rand() % (int)(backoff / 2 + 1));
    if (hs.retry_after_s >= 0) wait = (uint64_t)hs.retry_after_s * 1000;
    backoff *= 2;
    if (otelc__mono_ms() + wait >= deadline) break;
    sleep_ms(wait);
  }
  curl_slist_free_all(hdrs);
  return ok;
}

static bool post_json(otelc_sdk *sdk, const char *url, json_t *doc) {
  if (!doc) return false;
  char *body = json_dumps(doc, JSON_COMPACT);
  json_decref(doc);
  if (!body) return false;
  bool ok = http_post(sdk, url, body);
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
  otelc_histogram *hists = sdk->hists; /* list only grows at the head */
  pthread_mutex_unlock(&sdk->mu);
  json_t *doc = otelc__json_metrics(sdk->resource, sdk->scope, hists, sdk->start_ns, otelc_now_ns());
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
                         const char *default_service_version) {
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
  sdk->resource = build_resource(resource, default_service_version);
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
    sdk->curl = curl_easy_init();
    if (pthread_create(&sdk->thread, NULL, exporter_main, sdk) == 0) sdk->thread_started = true;
  }
  return sdk;
}

otelc_sdk *otelc_sdk_new_from_env(const char *default_service_version) {
  otelc_config cfg;
  otelc_config_from_env(&cfg);
  return otelc_sdk_new(&cfg, NULL, default_service_version);
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
    for (otelc_hist_point *p = h->points, *pn; p; p = pn) {
      pn = p->next;
      otelc_attributes_free(p->attrs);
      free(p->counts);
      free(p);
    }
    pthread_mutex_destroy(&h->mu);
    free(h->name), free(h->description), free(h->unit), free(h->bounds);
    free(h);
  }
  if (sdk->curl) curl_easy_cleanup(sdk->curl);
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

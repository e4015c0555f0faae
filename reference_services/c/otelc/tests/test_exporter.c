/* Exporter tests: a tiny HTTP/1.1 listener on 127.0.0.1 receives the OTLP/HTTP
 * JSON posts of a real SDK instance; the JSON is checked field by field. */
#include <arpa/inet.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "otelc/otelc.h"
#include "testutil.h"

#define MAXREQ 64
typedef struct request {
  char path[64];
  char content_type[64];
  char content_encoding[64];
  char *head; /* the request line and headers */
  char *body;
  size_t body_len; /* gzipped bodies hold NUL bytes */
} request;

static struct {
  int fd, port;
  pthread_mutex_t mu;
  request reqs[MAXREQ];
  int n;
  int fail_first; /* answer 503 to this many requests first */
  volatile int stop;
} srv = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void *serve(void *arg) {
  (void)arg;
  while (!srv.stop) {
    int c = accept(srv.fd, NULL, NULL);
    if (c < 0) continue;
    char *buf = malloc(1 << 20);
    size_t len = 0;
    long clen = -1;
    char *hdr_end = NULL;
    for (;;) {
      ssize_t r = read(c, buf + len, (1 << 20) - 1 - len);
      if (r <= 0) break;
      len += (size_t)r;
      buf[len] = 0;
      if (!hdr_end && (hdr_end = strstr(buf, "\r\n\r\n"))) {
        char *cl = strcasestr(buf, "Content-Length:");
        clen = cl ? strtol(cl + 15, NULL, 10) : 0;
      }
      if (hdr_end && (long)(len - (size_t)(hdr_end + 4 - buf)) >= clen) break;
    }
    pthread_mutex_lock(&srv.mu);
    bool fail = srv.fail_first > 0;
    if (fail) srv.fail_first--;
    if (!fail && hdr_end && srv.n < MAXREQ) {
      request *q = &srv.reqs[srv.n++];
      sscanf(buf, "POST %63s", q->path);
      char *ct = strcasestr(buf, "Content-Type:");
      if (ct) sscanf(ct + 13, " %63[^\r\n]", q->content_type);
      char *ce = strcasestr(buf, "Content-Encoding:");
      if (ce && ce < hdr_end) sscanf(ce + 17, " %63[^\r\n]", q->content_encoding);
      q->head = strndup(buf, (size_t)(hdr_end + 2 - buf));
      q->body_len = len - (size_t)(hdr_end + 4 - buf);
      q->body = malloc(q->body_len + 1);
      memcpy(q->body, hdr_end + 4, q->body_len + 1);
    }
    pthread_mutex_unlock(&srv.mu);
    const char *resp = fail ? "HTTP/1.1 503 Unavailable\r\nRetry-After: 0\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            : "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
    if (write(c, resp, strlen(resp)) < 0) {
    }
    close(c);
    free(buf);
  }
  return NULL;
}

static void start_server(void) {
  srv.fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  bind(srv.fd, (struct sockaddr *)&a, sizeof a);
  socklen_t sl = sizeof a;
  getsockname(srv.fd, (struct sockaddr *)&a, &sl);
  srv.port = ntohs(a.sin_port);
  listen(srv.fd, 16);
  pthread_t t;
  pthread_create(&t, NULL, serve, NULL);
  pthread_detach(t);
}

/* A gzip body inflated, NUL-terminated (free); NULL unless it is valid gzip. */
static char *gunzip(const char *in, size_t n) {
  size_t cap = 1 << 22;
  char *out = malloc(cap);
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  if (inflateInit2(&zs, 15 + 16) != Z_OK) return free(out), NULL;
  zs.next_in = (Bytef *)(uintptr_t)in;
  zs.avail_in = (uInt)n;
  zs.next_out = (Bytef *)out;
  zs.avail_out = (uInt)cap - 1;
  bool ok = inflate(&zs, Z_FINISH) == Z_STREAM_END && zs.avail_in == 0;
  out[zs.total_out] = 0;
  inflateEnd(&zs);
  if (!ok) free(out), out = NULL;
  return out;
}

static json_t *find_req(const char *path) {
  json_t *doc = NULL;
  pthread_mutex_lock(&srv.mu);
  for (int i = 0; i < srv.n && !doc; i++)
    if (!strcmp(srv.reqs[i].path, path)) {
      request *q = &srv.reqs[i];
      CHECK_STR(q->content_type, "application/json");
      if (!strcmp(q->content_encoding, "gzip")) {
        char *plain = gunzip(q->body, q->body_len);
        CHECK(plain != NULL);
        if (plain) doc = json_loads(plain, 0, NULL);
        free(plain);
      } else {
        CHECK_STR(q->content_encoding, "");
        doc = json_loads(q->body, 0, NULL);
      }
    }
  pthread_mutex_unlock(&srv.mu);
  return doc;
}

/* How many of the requests so far carry the header line `line` exactly. */
static int count_with_header(const char *line) {
  int n = 0;
  pthread_mutex_lock(&srv.mu);
  for (int i = 0; i < srv.n; i++) {
    const char *h = srv.reqs[i].head;
    for (const char *p = strstr(h, "\r\n"); p; p = strstr(p + 2, "\r\n"))
      if (!strncmp(p + 2, line, strlen(line)) && !strncmp(p + 2 + strlen(line), "\r\n", 2)) {
        n++;
        break;
      }
  }
  pthread_mutex_unlock(&srv.mu);
  return n;
}

static const char *attr_str(json_t *attrs, const char *key, const char *kind) {
  size_t i;
  json_t *a;
  json_array_foreach(attrs, i, a) {
    if (!strcmp(json_string_value(json_object_get(a, "key")), key))
      return json_string_value(json_object_get(json_object_get(a, "value"), kind));
  }
  return NULL;
}

static bool is_lower_hex(const char *s, size_t n) {
  if (!s || strlen(s) != n) return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
  return true;
}

static void configure(otelc_config *cfg, char urls[3][128]) {
  otelc_config_defaults(cfg);
  snprintf(urls[0], 128, "http://127.0.0.1:%d/v1/traces", srv.port);
  snprintf(urls[1], 128, "http://127.0.0.1:%d/v1/metrics", srv.port);
  snprintf(urls[2], 128, "http://127.0.0.1:%d/v1/logs", srv.port);
  cfg->traces_endpoint = urls[0];
  cfg->metrics_endpoint = urls[1];
  cfg->logs_endpoint = urls[2];
  cfg->stdout_logs = false;
}

static void test_export_all_signals(void) {
  otelc_config cfg;
  char urls[3][128];
  configure(&cfg, urls);
  cfg.bsp_schedule_delay_ms = 50;
  cfg.blrp_schedule_delay_ms = 50;
  unsetenv("OTEL_SERVICE_NAME");
  setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-env,deployment.environment=test", 1);
  otelc_sdk *sdk = otelc_sdk_new(&cfg, NULL, "9.9.9");
  CHECK(sdk != NULL);
  const char *md_tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  otelc_header md[] = {{"traceparent", 11, md_tp, strlen(md_tp)}, {"tracestate", 10, "v=1", 3}};
  otelc_rpc_call *rc = otelc_rpc_server_start(sdk, "/conformance.v1.Conformance/Echo", md, 2);
  otelc_span_add_event(otelc_rpc_call_span(rc), "evt", NULL);
  otelc_span_context sc;
  otelc_rpc_call_context(rc, &sc);
  otelc_attributes *la = otelc_attributes_new();
  otelc_attributes_set_str(la, "k", "v");
  otelc_log_emit(sdk, OTELC_SEVERITY_WARN, "hello", la, &sc);
  otelc_attributes_free(la);
  otelc_rpc_call *cc = otelc_rpc_client_start(sdk, rc, "/conformance.v1.Conformance/Echo",
                                              "localhost:50052");
  otelc_rpc_finish(cc, 14, "down");
  otelc_rpc_finish(rc, 13, "boom");
  CHECK(otelc_sdk_force_flush(sdk, 5000) == OTELC_OK);
  otelc_sdk_stats st;
  otelc_sdk_get_stats(sdk, &st);
  CHECK(st.spans_exported == 2 && st.logs_exported == 1 && st.metric_exports >= 1);

  json_t *tr = find_req("/v1/traces");
  CHECK(tr != NULL);
  json_t *rs = json_array_get(json_object_get(tr, "resourceSpans"), 0);
  json_t *rattrs = json_object_get(json_object_get(rs, "resource"), "attributes");
  CHECK_STR(attr_str(rattrs, "service.name", "stringValue"), "from-env");
  CHECK_STR(attr_str(rattrs, "service.version", "stringValue"), "9.9.9");
  CHECK_STR(attr_str(rattrs, "deployment.environment", "stringValue"), "test");
  CHECK(attr_str(rattrs, "service.instance.id", "stringValue") != NULL);
  CHECK_STR(attr_str(rattrs, "telemetry.sdk.language", "stringValue"), "c");
  json_t *spans = json_object_get(json_array_get(json_object_get(rs, "scopeSpans"), 0), "spans");
  CHECK(json_array_size(spans) == 2);
  json_t *client = json_array_get(spans, 0), *server = json_array_get(spans, 1);
  CHECK_STR(json_string_value(json_object_get(server, "name")), "conformance.v1.Conformance/Echo");
  CHECK_STR(json_string_value(json_object_get(server, "traceId")), "0af7651916cd43dd8448eb211c80319c");
  CHECK_STR(json_string_value(json_object_get(server, "parentSpanId")), "b7ad6b7169203331");
  CHECK_STR(json_string_value(json_object_get(server, "traceState")), "v=1");
  CHECK(is_lower_hex(json_string_value(json_object_get(server, "spanId")), 16));
  CHECK(json_integer_value(json_object_get(server, "kind")) == 2);
  CHECK(json_integer_value(json_object_get(client, "kind")) == 3);
  CHECK(json_is_string(json_object_get(server, "startTimeUnixNano")));
  json_t *sattrs = json_object_get(server, "attributes");
  CHECK_STR(attr_str(sattrs, "rpc.system", "stringValue"), "grpc");
  CHECK_STR(attr_str(sattrs, "rpc.service", "stringValue"), "conformance.v1.Conformance");
  CHECK_STR(attr_str(sattrs, "rpc.method", "stringValue"), "Echo");
  CHECK_STR(attr_str(sattrs, "rpc.grpc.status_code", "intValue"), "13");
  CHECK(json_integer_value(json_object_get(json_object_get(server, "status"), "code")) == 2);
  CHECK_STR(json_string_value(json_object_get(json_object_get(server, "status"), "message")), "boom");
  CHECK(json_array_size(json_object_get(server, "events")) == 1);
  json_t *cattrs = json_object_get(client, "attributes");
  CHECK_STR(attr_str(cattrs, "server.address", "stringValue"), "localhost");
  CHECK_STR(attr_str(cattrs, "server.port", "intValue"), "50052");
  CHECK_STR(json_string_value(json_object_get(client, "parentSpanId")),
            json_string_value(json_object_get(server, "spanId")));
  json_decref(tr);

  json_t *lg = find_req("/v1/logs");
  CHECK(lg != NULL);
  json_t *rec = json_array_get(
      json_object_get(json_array_get(json_object_get(json_array_get(json_object_get(lg, "resourceLogs"), 0), "scopeLogs"), 0),
                      "logRecords"),
      0);
  CHECK(json_integer_value(json_object_get(rec, "severityNumber")) == 13);
  CHECK_STR(json_string_value(json_object_get(json_object_get(rec, "body"), "stringValue")), "hello");
  CHECK_STR(json_string_value(json_object_get(rec, "traceId")), "0af7651916cd43dd8448eb211c80319c");
  CHECK(is_lower_hex(json_string_value(json_object_get(rec, "spanId")), 16));
  CHECK_STR(attr_str(json_object_get(rec, "attributes"), "k", "stringValue"), "v");
  json_decref(lg);

  json_t *mt = find_req("/v1/metrics");
  CHECK(mt != NULL);
  json_t *metrics = json_object_get(
      json_array_get(json_object_get(json_array_get(json_object_get(mt, "resourceMetrics"), 0), "scopeMetrics"), 0),
      "metrics");
  bool found = false;
  size_t i;
  json_t *m;
  json_array_foreach(metrics, i, m) {
    if (strcmp(json_string_value(json_object_get(m, "name")), "rpc.server.duration")) continue;
    found = true;
    CHECK_STR(json_string_value(json_object_get(m, "unit")), "ms");
    json_t *h = json_object_get(m, "histogram");
    CHECK(json_integer_value(json_object_get(h, "aggregationTemporality")) == 2);
    json_t *dp = json_array_get(json_object_get(h, "dataPoints"), 0);
    CHECK_STR(json_string_value(json_object_get(dp, "count")), "1");
    CHECK(json_array_size(json_object_get(dp, "bucketCounts")) ==
          json_array_size(json_object_get(dp, "explicitBounds")) + 1);
    json_t *da = json_object_get(dp, "attributes");
    CHECK_STR(attr_str(da, "rpc.method", "stringValue"), "Echo");
    CHECK_STR(attr_str(da, "rpc.grpc.status_code", "intValue"), "13");
  }
  CHECK(found);
  json_decref(mt);
  otelc_sdk_free(sdk);
  unsetenv("OTEL_RESOURCE_ATTRIBUTES");
}

static void reset_server(void) {
  pthread_mutex_lock(&srv.mu);
  for (int i = 0; i < srv.n; i++) free(srv.reqs[i].body), free(srv.reqs[i].head);
  memset(srv.reqs, 0, sizeof srv.reqs);
  srv.n = 0;
  pthread_mutex_unlock(&srv.mu);
}

static void test_queue_full_drops(void) {
  reset_server();
  otelc_config cfg;
  char urls[3][128];
  configure(&cfg, urls);
  cfg.bsp_schedule_delay_ms = 60000;
  cfg.bsp_max_queue_size = 2;
  otelc_sdk *sdk = otelc_sdk_new(&cfg, NULL, "1");
  for (int i = 0; i < 5; i++) otelc_span_end(otelc_span_start(sdk, "s", OTELC_SPAN_KIND_INTERNAL, NULL, NULL));
  otelc_sdk_stats st;
  otelc_sdk_get_stats(sdk, &st);
  CHECK(st.spans_dropped == 3);
  otelc_sdk_free(sdk); /* shutdown flushes the 2 queued spans */
  json_t *tr = find_req("/v1/traces");
  CHECK(tr != NULL);
  json_t *spans = json_object_get(
      json_array_get(json_object_get(json_array_get(json_object_get(tr, "resourceSpans"), 0), "scopeSpans"), 0),
      "spans");
  CHECK(json_array_size(spans) == 2);
  json_decref(tr);
}

static void test_retry_on_503(void) {
  reset_server();
  srv.fail_first = 2;
  otelc_config cfg;
  char urls[3][128];
  configure(&cfg, urls);
  otelc_sdk *sdk = otelc_sdk_new(&cfg, NULL, "1");
  otelc_span_end(otelc_span_start(sdk, "retried", OTELC_SPAN_KIND_INTERNAL, NULL, NULL));
  CHECK(otelc_sdk_force_flush(sdk, 10000) == OTELC_OK);
  otelc_sdk_stats st;
  otelc_sdk_get_stats(sdk, &st);
  CHECK(st.spans_exported == 1 && st.spans_failed == 0);
  otelc_sdk_free(sdk);
}

static json_t *metric_named(json_t *doc, const char *name) {
  json_t *metrics = json_object_get(
      json_array_get(json_object_get(json_array_get(json_object_get(doc, "resourceMetrics"), 0), "scopeMetrics"), 0),
      "metrics");
  size_t i;
  json_t *m;
  json_array_foreach(metrics, i, m) if (!strcmp(json_string_value(json_object_get(m, "name")), name)) return m;
  return NULL;
}

static void observe_level(otelc_observer *ob, void *user_data) {
  otelc_attributes *a = otelc_attributes_new();
  otelc_attributes_set_str(a, "k", "v");
  otelc_observe_double(ob, 1.0, NULL);
  otelc_observe_double(ob, *(double *)user_data, NULL); /* replaces the 1.0 */
  otelc_observe_double(ob, NAN, a);                     /* ignored */
  otelc_attributes_free(a);
}

/* Process metrics and a gauge ride in the histogram's request, under the one resource. */
static void test_observables_export(void) {
  reset_server();
  otelc_config cfg;
  char urls[3][128];
  configure(&cfg, urls);
  otelc_sdk *sdk = otelc_sdk_new(&cfg, NULL, "1");
  CHECK(otelc_process_metrics_register(sdk) == OTELC_OK);
  double level = 2.5;
  otelc_observable *g =
      otelc_observable_new(sdk, OTELC_OBSERVABLE_GAUGE, "test.level", "d", "1", observe_level, &level);
  otelc_rpc_finish(otelc_rpc_server_start(sdk, "/conformance.v1.Conformance/Echo", NULL, 0), 0, NULL);
  CHECK(otelc_sdk_force_flush(sdk, 5000) == OTELC_OK);
  json_t *mt = find_req("/v1/metrics");
  CHECK(json_array_size(json_object_get(mt, "resourceMetrics")) == 1);
  json_t *rattrs = json_object_get(
      json_object_get(json_array_get(json_object_get(mt, "resourceMetrics"), 0), "resource"), "attributes");
  CHECK(attr_str(rattrs, "service.instance.id", "stringValue") != NULL);
  CHECK(metric_named(mt, "rpc.server.duration") != NULL);

  json_t *cpu = metric_named(mt, "process.cpu.time");
  CHECK_STR(json_string_value(json_object_get(cpu, "unit")), "s");
  json_t *sum = json_object_get(cpu, "sum");
  CHECK(json_is_true(json_object_get(sum, "isMonotonic")));
  CHECK(json_integer_value(json_object_get(sum, "aggregationTemporality")) == 2);
  json_t *dps = json_object_get(sum, "dataPoints");
  CHECK(json_array_size(dps) == 2);
  const char *modes[2] = {"user", "system"};
  for (size_t i = 0; i < 2; i++) {
    json_t *dp = json_array_get(dps, i);
    CHECK_STR(attr_str(json_object_get(dp, "attributes"), "cpu.mode", "stringValue"), modes[i]);
    CHECK(json_is_real(json_object_get(dp, "asDouble")) &&
          json_real_value(json_object_get(dp, "asDouble")) >= 0);
    CHECK(json_is_string(json_object_get(dp, "startTimeUnixNano")));
  }

  json_t *mem = metric_named(mt, "process.memory.usage");
  CHECK_STR(json_string_value(json_object_get(mem, "unit")), "By");
  sum = json_object_get(mem, "sum");
  CHECK(json_is_false(json_object_get(sum, "isMonotonic")));
  CHECK(json_integer_value(json_object_get(sum, "aggregationTemporality")) == 2);
  json_t *dp = json_array_get(json_object_get(sum, "dataPoints"), 0);
  const char *rss = json_string_value(json_object_get(dp, "asInt"));
  CHECK(rss && strtoll(rss, NULL, 10) > 0);
  CHECK(json_array_size(json_object_get(dp, "attributes")) == 0);

  json_t *gauge = json_object_get(metric_named(mt, "test.level"), "gauge");
  dps = json_object_get(gauge, "dataPoints");
  CHECK(json_array_size(dps) == 1);
  CHECK(json_real_value(json_object_get(json_array_get(dps, 0), "asDouble")) == 2.5);
  CHECK(json_object_get(json_array_get(dps, 0), "startTimeUnixNano") == NULL);
  json_decref(mt);

  otelc_observable_free(g);
  reset_server();
  CHECK(otelc_sdk_force_flush(sdk, 5000) == OTELC_OK);
  mt = find_req("/v1/metrics");
  CHECK(metric_named(mt, "process.cpu.time") != NULL);
  CHECK(metric_named(mt, "test.level") == NULL);
  json_decref(mt);
  otelc_sdk_free(sdk);
}

/* OTEL_EXPORTER_OTLP_HEADERS and OTEL_EXPORTER_OTLP_COMPRESSION, as the
 * suite's ENV-034..036 configure them, on every signal's request. */
static void test_headers_and_gzip(void) {
  reset_server();
  otelc_config cfg;
  char urls[3][128];
  configure(&cfg, urls);
  cfg.headers = "x-conformance-token=t0k3n, x-conformance-note=two%20words,x-bad=%zz";
  cfg.compression = OTELC_COMPRESSION_GZIP;
  otelc_sdk *sdk = otelc_sdk_new(&cfg, NULL, "1");
  otelc_span_end(otelc_span_start(sdk, "zipped", OTELC_SPAN_KIND_INTERNAL, NULL, NULL));
  otelc_log_emit(sdk, OTELC_SEVERITY_INFO, "zipped", NULL, NULL);
  otelc_rpc_finish(otelc_rpc_server_start(sdk, "/conformance.v1.Conformance/Echo", NULL, 0), 0, NULL);
  CHECK(otelc_sdk_force_flush(sdk, 5000) == OTELC_OK);
  otelc_sdk_stats st;
  otelc_sdk_get_stats(sdk, &st);
  CHECK(st.spans_exported == 2 && st.logs_exported == 1 && st.metric_exports_failed == 0);
  otelc_sdk_free(sdk);

  pthread_mutex_lock(&srv.mu);
  int n = srv.n, zipped = 0;
  for (int i = 0; i < n; i++) {
    zipped += !strcmp(srv.reqs[i].content_encoding, "gzip");
    CHECK(srv.reqs[i].body_len >= 2 && (unsigned char)srv.reqs[i].body[0] == 0x1f &&
          (unsigned char)srv.reqs[i].body[1] == 0x8b);
  }
  pthread_mutex_unlock(&srv.mu);
  CHECK(n >= 3); /* traces, logs, metrics (shutdown may add another metrics post) */
  CHECK(zipped == n);
  CHECK(count_with_header("x-conformance-token: t0k3n") == n);
  CHECK(count_with_header("x-conformance-note: two words") == n);
  CHECK(count_with_header("Content-Encoding: gzip") == n);
  CHECK(!count_with_header("x-bad: %zz"));

  json_t *tr = find_req("/v1/traces");
  json_t *spans = json_object_get(
      json_array_get(json_object_get(json_array_get(json_object_get(tr, "resourceSpans"), 0), "scopeSpans"), 0),
      "spans");
  CHECK(json_array_size(spans) == 2);
  CHECK_STR(json_string_value(json_object_get(json_array_get(spans, 0), "name")), "zipped");
  json_decref(tr);
  json_t *lg = find_req("/v1/logs");
  CHECK(lg != NULL && json_array_size(json_object_get(lg, "resourceLogs")) == 1);
  json_decref(lg);
  json_t *mt = find_req("/v1/metrics");
  CHECK(metric_named(mt, "rpc.server.duration") != NULL);
  json_decref(mt);
}

static void test_unreachable_collector_does_not_block(void) {
  otelc_config cfg;
  otelc_config_defaults(&cfg);
  cfg.traces_endpoint = "http://127.0.0.1:1/v1/traces";
  cfg.export_timeout_ms = 300;
  cfg.stdout_logs = false;
  otelc_sdk *sdk = otelc_sdk_new(&cfg, NULL, "1");
  for (int i = 0; i < 100; i++)
    otelc_span_end(otelc_span_start(sdk, "x", OTELC_SPAN_KIND_INTERNAL, NULL, NULL));
  otelc_sdk_free(sdk);
  CHECK(1);
}

int main(void) {
  start_server();
  test_export_all_signals();
  test_queue_full_drops();
  test_retry_on_503();
  test_observables_export();
  test_headers_and_gzip();
  test_unreachable_collector_does_not_block();
  srv.stop = 1;
  reset_server();
  return TEST_RESULT("test_exporter");
}

/* Configuration from the OTEL_* variables and the SDK's resource: everything
 * otelc_sdk_new reads from the environment, kept apart from the exporter. */
#include <errno.h>
#include <stdio.h>
#include <strings.h>

#include "internal.h"

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
  if (comp && strcasecmp(comp, "gzip") == 0) c->compression = OTELC_COMPRESSION_GZIP;
  else if (comp && strcasecmp(comp, "none") != 0)
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
      if (!kn || otelc__pct_decode(k, kn, kb, NULL) || otelc__pct_decode(val, vn, buf, NULL))
        ok = false;
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

otelc_attributes *otelc__build_resource(const otelc_attributes *given, const char *version) {
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
  otelc_attributes_set_str(r, "service.version", "0.0.0");
  otelc_attributes_set_str(r, "service.instance.id", id);
  otelc_attributes_set_str(r, "telemetry.sdk.name", "otelc");
  otelc_attributes_set_str(r, "telemetry.sdk.language", "c");
  otelc_attributes_set_str(r, "telemetry.sdk.version", OTELC_VERSION);
  /* The environment is the secondary resource (resource/sdk.md): it fills in
   * what the service leaves unset but must not overwrite what the service
   * states about itself, so it goes under the service's attributes. */
  otelc__attributes_merge(r, envr);
  if (version) otelc_attributes_set_str(r, "service.version", version);
  otelc__attributes_merge(r, given);
  /* Last, so that an operator can always rename a deployment. */
  const char *sn = env("OTEL_SERVICE_NAME");
  if (sn) otelc_attributes_set_str(r, "service.name", sn);
  otelc_attributes_free(envr);
  return r;
}


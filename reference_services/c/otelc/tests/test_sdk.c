/* SDK tests: configuration from the environment, samplers, span context
 * propagation rules, histogram buckets, semconv helpers. No network: the SDK
 * is disabled or points at a closed port and never flushes spans that matter. */
#include <stdlib.h>

#include "otelc/otelc.h"
#include "testutil.h"

static otelc_sdk *sdk_full(otelc_sampler s, double ratio, const otelc_attributes *resource,
                           const char *version) {
  otelc_config cfg;
  otelc_config_defaults(&cfg);
  cfg.sampler = s;
  cfg.sampler_ratio = ratio;
  cfg.traces_endpoint = cfg.metrics_endpoint = cfg.logs_endpoint = "http://127.0.0.1:1/v1/x";
  cfg.export_timeout_ms = 200;
  cfg.stdout_logs = false;
  return otelc_sdk_new(&cfg, resource, version);
}

static otelc_sdk *sdk_with(otelc_sampler s, double ratio) { return sdk_full(s, ratio, NULL, "1.0.0"); }

static void test_env_config(void) {
  setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318/", 1);
  setenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://logs.example/custom", 1);
  setenv("OTEL_BSP_SCHEDULE_DELAY", "100", 1);
  setenv("OTEL_METRIC_EXPORT_INTERVAL", "500", 1);
  setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio", 1);
  setenv("OTEL_TRACES_SAMPLER_ARG", "0.25", 1);
  setenv("OTEL_PROPAGATORS", "baggage, tracecontext,b3", 1);
  setenv("OTEL_SDK_DISABLED", "TRUE", 1);
  otelc_config c;
  otelc_config_from_env(&c);
  CHECK_STR(c.traces_endpoint, "http://127.0.0.1:4318/v1/traces");
  CHECK_STR(c.metrics_endpoint, "http://127.0.0.1:4318/v1/metrics");
  CHECK_STR(c.logs_endpoint, "http://logs.example/custom");
  CHECK(c.bsp_schedule_delay_ms == 100 && c.metric_export_interval_ms == 500);
  CHECK(c.blrp_schedule_delay_ms == 1000);
  CHECK(c.sampler == OTELC_SAMPLER_PARENTBASED_TRACEIDRATIO && c.sampler_ratio == 0.25);
  CHECK(c.propagators == (OTELC_PROPAGATOR_TRACECONTEXT | OTELC_PROPAGATOR_BAGGAGE));
  CHECK(c.disabled);
  CHECK(c.compression == OTELC_COMPRESSION_NONE);
  setenv("OTEL_PROPAGATORS", "none", 1);
  setenv("OTEL_SDK_DISABLED", "false", 1);
  setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip", 1);
  setenv("OTEL_EXPORTER_OTLP_HEADERS", "a=b%20c", 1);
  otelc_config_from_env(&c);
  CHECK(c.propagators == 0 && !c.disabled);
  CHECK(c.compression == OTELC_COMPRESSION_GZIP);
  CHECK_STR(c.headers, "a=b%20c"); /* decoded by the transport, which reports bad members */
  setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "none", 1);
  otelc_config_from_env(&c);
  CHECK(c.compression == OTELC_COMPRESSION_NONE);
  setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd", 1); /* unsupported: warned, none */
  otelc_config_from_env(&c);
  CHECK(c.compression == OTELC_COMPRESSION_NONE);
  const char *vars[] = {"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                        "OTEL_BSP_SCHEDULE_DELAY", "OTEL_METRIC_EXPORT_INTERVAL",
                        "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "OTEL_PROPAGATORS",
                        "OTEL_SDK_DISABLED", "OTEL_EXPORTER_OTLP_COMPRESSION",
                        "OTEL_EXPORTER_OTLP_HEADERS"};
  for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) unsetenv(vars[i]);
}

static const char *res_str(otelc_sdk *sdk, const char *key) {
  otelc_attr_view v;
  if (otelc_attributes_find(otelc_sdk_resource(sdk), key, &v) != OTELC_OK) return NULL;
  return v.str_value;
}

static void test_resource(void) {
  unsetenv("OTEL_SERVICE_NAME");
  unsetenv("OTEL_RESOURCE_ATTRIBUTES");
  otelc_sdk *s = sdk_with(OTELC_SAMPLER_ALWAYS_OFF, 1);
  CHECK_STR(res_str(s, "service.name"), "unknown_service");
  CHECK_STR(res_str(s, "service.version"), "1.0.0");
  CHECK(res_str(s, "service.instance.id") && strlen(res_str(s, "service.instance.id")) == 36);
  otelc_sdk_free(s);
  setenv("OTEL_RESOURCE_ATTRIBUTES",
         "service.name=a%20b, service.version = 2.0,service.instance.id=i-1,"
         "telemetry.sdk.name=x,m=set%20from%20env", 1);
  s = sdk_with(OTELC_SAMPLER_ALWAYS_OFF, 1);
  CHECK_STR(res_str(s, "service.name"), "a b");
  /* the environment is the secondary resource: the service's own version wins */
  CHECK_STR(res_str(s, "service.version"), "1.0.0");
  /* ... but it does override otelc's defaults */
  CHECK_STR(res_str(s, "service.instance.id"), "i-1");
  CHECK_STR(res_str(s, "telemetry.sdk.name"), "x");
  CHECK_STR(res_str(s, "m"), "set from env");
  otelc_sdk_free(s);
  /* a service without a version of its own takes the environment's */
  s = sdk_full(OTELC_SAMPLER_ALWAYS_OFF, 1, NULL, NULL);
  CHECK_STR(res_str(s, "service.version"), "2.0");
  otelc_sdk_free(s);
  unsetenv("OTEL_RESOURCE_ATTRIBUTES");
  s = sdk_full(OTELC_SAMPLER_ALWAYS_OFF, 1, NULL, NULL);
  CHECK_STR(res_str(s, "service.version"), "0.0.0");
  otelc_sdk_free(s);
  /* attributes given in code win over the environment, except service.name
   * over OTEL_SERVICE_NAME; a given service.version beats the version argument */
  setenv("OTEL_RESOURCE_ATTRIBUTES", "m=env,e=env,service.name=env,service.version=env", 1);
  otelc_attributes *given = otelc_attributes_new();
  otelc_attributes_set_str(given, "m", "code");
  otelc_attributes_set_str(given, "service.name", "code");
  otelc_attributes_set_str(given, "service.version", "code");
  s = sdk_full(OTELC_SAMPLER_ALWAYS_OFF, 1, given, "arg");
  CHECK_STR(res_str(s, "m"), "code");
  CHECK_STR(res_str(s, "e"), "env");
  CHECK_STR(res_str(s, "service.name"), "code");
  CHECK_STR(res_str(s, "service.version"), "code");
  otelc_sdk_free(s);
  setenv("OTEL_SERVICE_NAME", "svc", 1);
  s = sdk_full(OTELC_SAMPLER_ALWAYS_OFF, 1, given, "arg");
  CHECK_STR(res_str(s, "service.name"), "svc");
  CHECK_STR(otelc_sdk_service_name(s), "svc");
  otelc_sdk_free(s);
  otelc_attributes_free(given);
  /* the suite's ENV-004 configuration */
  setenv("OTEL_RESOURCE_ATTRIBUTES",
         "deployment.environment.name=conformance,conformance.marker=set%20from%20env,"
         "service.name=name-from-resource-attributes,service.version=version-from-env", 1);
  s = sdk_with(OTELC_SAMPLER_ALWAYS_OFF, 1);
  CHECK_STR(res_str(s, "service.name"), "svc");
  CHECK_STR(res_str(s, "service.version"), "1.0.0");
  CHECK_STR(res_str(s, "deployment.environment.name"), "conformance");
  CHECK_STR(res_str(s, "conformance.marker"), "set from env");
  otelc_sdk_free(s);
  setenv("OTEL_RESOURCE_ATTRIBUTES", "e=3,bad%zz=1", 1); /* whole value discarded */
  s = sdk_full(OTELC_SAMPLER_ALWAYS_OFF, 1, NULL, NULL);
  CHECK(res_str(s, "e") == NULL);
  CHECK_STR(res_str(s, "service.version"), "0.0.0");
  otelc_sdk_free(s);
  unsetenv("OTEL_SERVICE_NAME");
  unsetenv("OTEL_RESOURCE_ATTRIBUTES");
}

static void test_sampling_and_context(void) {
  otelc_sdk *s = sdk_with(OTELC_SAMPLER_PARENTBASED_ALWAYS_ON, 1);
  otelc_span_context parent;
  const char *tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
  CHECK(otelc_traceparent_parse(tp, strlen(tp), &parent) == OTELC_OK);
  otelc_tracestate *ts = otelc_tracestate_new();
  otelc_tracestate_set(ts, "k", "v");
  /* unsampled parent: not recording, same trace, fresh span id, flags 00, state kept */
  otelc_span *sp = otelc_span_start(s, "x", OTELC_SPAN_KIND_SERVER, &parent, ts);
  otelc_span_context c;
  otelc_span_get_context(sp, &c);
  CHECK(!otelc_span_is_recording(sp));
  CHECK(!memcmp(c.trace_id, parent.trace_id, 16) && memcmp(c.span_id, parent.span_id, 8));
  CHECK(c.trace_flags == 0);
  CHECK_STR(otelc_tracestate_find(otelc_span_tracestate(sp), "k"), "v");
  otelc_span *child = otelc_span_start(s, "y", OTELC_SPAN_KIND_CLIENT, &c, otelc_span_tracestate(sp));
  CHECK(!otelc_span_is_recording(child));
  otelc_span_end(child);
  otelc_span_end(sp);
  /* sampled + random flag: recording, random bit kept */
  parent.trace_flags = 0x03;
  sp = otelc_span_start(s, "x", OTELC_SPAN_KIND_SERVER, &parent, NULL);
  otelc_span_get_context(sp, &c);
  CHECK(otelc_span_is_recording(sp) && c.trace_flags == 0x03);
  char out[OTELC_TRACEPARENT_LEN + 1];
  otelc_traceparent_format(&c, out);
  CHECK(!strncmp(out, "00-0af7651916cd43dd8448eb211c80319c-", 36) && !strcmp(out + 53, "03"));
  otelc_span_free(sp);
  /* root */
  sp = otelc_span_start(s, "r", OTELC_SPAN_KIND_SERVER, NULL, ts);
  otelc_span_get_context(sp, &c);
  otelc_span_context pp;
  otelc_span_get_parent(sp, &pp);
  CHECK(otelc_span_is_recording(sp) && c.trace_flags == 1 && !otelc_span_context_is_valid(&pp));
  CHECK(otelc_tracestate_count(otelc_span_tracestate(sp)) == 0); /* no parent: no state */
  otelc_span_free(sp);
  otelc_tracestate_free(ts);
  otelc_sdk_free(s);

  s = sdk_with(OTELC_SAMPLER_ALWAYS_OFF, 1);
  parent.trace_flags = 1;
  sp = otelc_span_start(s, "x", OTELC_SPAN_KIND_SERVER, &parent, NULL);
  CHECK(!otelc_span_is_recording(sp));
  otelc_span_free(sp);
  otelc_sdk_free(s);
  s = sdk_with(OTELC_SAMPLER_PARENTBASED_TRACEIDRATIO, 0.0);
  sp = otelc_span_start(s, "x", OTELC_SPAN_KIND_SERVER, NULL, NULL);
  CHECK(!otelc_span_is_recording(sp));
  otelc_span_free(sp);
  sp = otelc_span_start(s, "x", OTELC_SPAN_KIND_SERVER, &parent, NULL); /* sampled parent wins */
  CHECK(otelc_span_is_recording(sp));
  otelc_span_free(sp);
  otelc_sdk_free(s);
}

static void test_histogram_and_rpc(void) {
  otelc_sdk *s = sdk_with(OTELC_SAMPLER_ALWAYS_ON, 1);
  double b[] = {1, 10};
  otelc_histogram *h = otelc_histogram_new(s, "h", "d", "ms", b, 2);
  CHECK(h != NULL);
  CHECK(otelc_histogram_new(s, "h", "d", "ms", b, 2) == h);
  double bad[] = {5, 1};
  CHECK(otelc_histogram_new(s, "bad", "", "ms", bad, 2) == NULL);
  otelc_histogram_record(h, 0.5, NULL);
  otelc_histogram_record(h, 1, NULL);
  otelc_histogram_record(h, 5, NULL);
  otelc_histogram_record(h, 50, NULL);
  otelc_histogram_free(h);
  /* white-box check through the JSON encoder is in test_exporter */
  char svc[64], m[64];
  CHECK(otelc_rpc_split_method("/conformance.v1.Conformance/Echo", svc, 64, m, 64) == OTELC_OK);
  CHECK_STR(svc, "conformance.v1.Conformance");
  CHECK_STR(m, "Echo");
  CHECK(otelc_rpc_split_method("/nomethod", svc, 64, m, 64) != OTELC_OK);
  int server_err[] = {2, 4, 12, 13, 14, 15};
  for (int code = 0; code <= 16; code++) {
    bool expect = false;
    for (int i = 0; i < 6; i++) expect |= server_err[i] == code;
    CHECK(otelc_rpc_status_is_error(OTELC_SPAN_KIND_SERVER, code) == expect);
    CHECK(otelc_rpc_status_is_error(OTELC_SPAN_KIND_CLIENT, code) == (code != 0));
  }
  /* attribute sets */
  otelc_attributes *a = otelc_attributes_new();
  otelc_attributes_set_str(a, "k", "v");
  otelc_attributes_set_int(a, "k", 5); /* replace in place */
  otelc_attributes_set_bool(a, "b", true);
  otelc_attributes_set_double(a, "d", 1.5);
  otelc_attr_view v;
  CHECK(otelc_attributes_count(a) == 3);
  CHECK(otelc_attributes_get(a, 0, &v) == OTELC_OK && v.type == OTELC_ATTR_INT && v.int_value == 5);
  otelc_attributes *d = otelc_attributes_dup(a);
  CHECK(otelc_attributes_count(d) == 3);
  otelc_attributes_free(d);
  otelc_attributes_free(a);
  otelc_sdk_free(s);
}

int main(void) {
  test_env_config();
  test_resource();
  test_sampling_and_context();
  test_histogram_and_rpc();
  return TEST_RESULT("test_sdk");
}

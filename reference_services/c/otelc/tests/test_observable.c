/* Observable instruments and the process metrics, without a collector: the
 * SDK posts to a closed port, which still runs a collection at every flush.
 * Callback lifetime is checked by freeing user_data after
 * otelc_observable_free: ASan reports any later call. */
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "otelc/otelc.h"
#include "testutil.h"

static otelc_sdk *offline_sdk(bool disabled) {
  otelc_config cfg;
  otelc_config_defaults(&cfg);
  cfg.disabled = disabled;
  cfg.traces_endpoint = cfg.metrics_endpoint = cfg.logs_endpoint = "http://127.0.0.1:1/v1/x";
  cfg.export_timeout_ms = 200;
  cfg.stdout_logs = false;
  return otelc_sdk_new(&cfg, NULL, "1.0.0");
}

static void count_calls(otelc_observer *ob, void *user_data) {
  int *calls = user_data;
  ++*calls;
  otelc_observe_int(ob, *calls, NULL);
}

static void test_argument_rules(void) {
  otelc_sdk *sdk = offline_sdk(false);
  int calls = 0;
  const otelc_observable_kind counter = OTELC_OBSERVABLE_COUNTER;
  CHECK(otelc_observable_new(NULL, counter, "x", NULL, NULL, count_calls, &calls) == NULL);
  CHECK(otelc_observable_new(sdk, counter, NULL, NULL, NULL, count_calls, &calls) == NULL);
  CHECK(otelc_observable_new(sdk, counter, "", NULL, NULL, count_calls, &calls) == NULL);
  CHECK(otelc_observable_new(sdk, counter, "x", NULL, NULL, NULL, &calls) == NULL);
  CHECK(otelc_observable_new(sdk, (otelc_observable_kind)0, "x", NULL, NULL, count_calls, &calls) == NULL);
  CHECK(otelc_observable_new(sdk, (otelc_observable_kind)9, "x", NULL, NULL, count_calls, &calls) == NULL);
  otelc_observable *g = otelc_observable_new(sdk, OTELC_OBSERVABLE_GAUGE, "g", NULL, NULL, count_calls, &calls);
  CHECK(g != NULL);
  CHECK(otelc_observable_new(sdk, counter, "g", NULL, NULL, count_calls, &calls) == NULL);
  otelc_observable_free(g);
  otelc_observable *again = otelc_observable_new(sdk, counter, "g", NULL, NULL, count_calls, &calls);
  CHECK(again != NULL); /* a freed instrument's name can be registered again */
  otelc_observable_free(again);
  otelc_observable_free(NULL);
  otelc_observe_int(NULL, 1, NULL);
  otelc_observe_double(NULL, 1.0, NULL);
  otelc_sdk_free(sdk);
  CHECK(calls == 0); /* both were unregistered before any collection */
}

static void test_callback_lifetime(void) {
  otelc_sdk *sdk = offline_sdk(false);
  int *calls = calloc(1, sizeof *calls);
  otelc_observable *o =
      otelc_observable_new(sdk, OTELC_OBSERVABLE_COUNTER, "calls", "d", "1", count_calls, calls);
  CHECK(o != NULL);
  CHECK(otelc_sdk_force_flush(sdk, 5000) == OTELC_OK);
  CHECK(*calls == 1);
  CHECK(otelc_sdk_force_flush(sdk, 5000) == OTELC_OK);
  CHECK(*calls == 2);
  otelc_observable_free(o);
  free(calls);
  CHECK(otelc_sdk_force_flush(sdk, 5000) == OTELC_OK);
  otelc_sdk_free(sdk); /* its final collection must not call back either */

  /* Until freed, the callback runs in otelc_sdk_free's final collection. */
  int final_calls = 0;
  sdk = offline_sdk(false);
  otelc_observable_new(sdk, OTELC_OBSERVABLE_GAUGE, "final", NULL, NULL, count_calls, &final_calls);
  otelc_sdk_free(sdk);
  CHECK(final_calls == 1);

  int disabled_calls = 0;
  sdk = offline_sdk(true);
  CHECK(otelc_observable_new(sdk, OTELC_OBSERVABLE_GAUGE, "off", NULL, NULL, count_calls,
                             &disabled_calls) != NULL);
  CHECK(otelc_sdk_force_flush(sdk, 1000) == OTELC_OK);
  otelc_sdk_free(sdk);
  CHECK(disabled_calls == 0); /* OTEL_SDK_DISABLED: nothing is collected */
}

static double cpu_s(const otelc_process_usage *u) { return u->cpu_user_s + u->cpu_system_s; }

static void test_process_usage(void) {
  CHECK(otelc_process_usage_read(NULL) == OTELC_ERR_INVALID);
  otelc_process_usage before, after;
  CHECK(otelc_process_usage_read(&before) == OTELC_OK);
  CHECK(before.cpu_user_s >= 0 && before.cpu_system_s >= 0);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  /* The peak bounds the current size; the slack covers the kernel's per-CPU
   * counters, which statm reads approximately. */
  CHECK(before.memory_rss_bytes > 0);
  CHECK(before.memory_rss_bytes <= (int64_t)ru.ru_maxrss * 1024 + (4 << 20));

  const size_t big = 64u << 20;
  volatile unsigned char *block = malloc(big);
  CHECK(block != NULL);
  for (size_t i = 0; block && i < big; i += 4096) block[i] = (unsigned char)i;
  volatile unsigned long spin = 0;
  time_t give_up = time(NULL) + 10;
  do {
    for (int i = 0; i < 1000000; i++) spin += (unsigned long)i;
    otelc_process_usage_read(&after);
  } while (cpu_s(&after) < cpu_s(&before) + 0.05 && time(NULL) < give_up);
  CHECK(cpu_s(&after) >= cpu_s(&before) + 0.05);
  CHECK(after.memory_rss_bytes >= before.memory_rss_bytes + (int64_t)(big / 2));
  free((void *)block);

  otelc_sdk *sdk = offline_sdk(false);
  CHECK(otelc_process_metrics_register(NULL) == OTELC_ERR_INVALID);
  CHECK(otelc_process_metrics_register(sdk) == OTELC_OK);
  CHECK(otelc_process_metrics_register(sdk) == OTELC_ERR_STATE);
  otelc_sdk_free(sdk);
}

int main(void) {
  test_argument_rules();
  test_callback_lifetime();
  test_process_usage();
  return TEST_RESULT("test_observable");
}

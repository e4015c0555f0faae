/* Semconv process metrics over the observable instruments of metrics.c. */
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include "internal.h"

static double seconds(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec / 1e6; }

static bool cpu_times(double *user_s, double *system_s) {
  struct rusage ru;
  bool ok = getrusage(RUSAGE_SELF, &ru) == 0;
  *user_s = ok ? seconds(ru.ru_utime) : -1;
  *system_s = ok ? seconds(ru.ru_stime) : -1;
  return ok;
}

/* getrusage's ru_maxrss is the peak resident size, not the current one, so
 * the current size comes from statm (its second field, in pages). */
static int64_t resident_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f) return -1;
  unsigned long long size_pages = 0, resident_pages = 0;
  int n = fscanf(f, "%llu %llu", &size_pages, &resident_pages);
  fclose(f);
  long page = sysconf(_SC_PAGESIZE);
  if (n != 2 || page <= 0) return -1;
  return (int64_t)(resident_pages * (unsigned long long)page);
}

int otelc_process_usage_read(otelc_process_usage *out) {
  if (!out) return OTELC_ERR_INVALID;
  bool cpu_ok = cpu_times(&out->cpu_user_s, &out->cpu_system_s);
  out->memory_rss_bytes = resident_bytes();
  return cpu_ok && out->memory_rss_bytes >= 0 ? OTELC_OK : OTELC_ERR_STATE;
}

static void observe_mode(otelc_observer *ob, const char *mode, double value) {
  otelc_attributes *a = otelc_attributes_new();
  if (!a || otelc_attributes_set_str(a, "cpu.mode", mode) != OTELC_OK) {
    otelc_attributes_free(a);
    return;
  }
  otelc_observe_double(ob, value, a);
  otelc_attributes_free(a);
}

static void observe_cpu(otelc_observer *ob, void *unused) {
  (void)unused;
  double user_s, system_s;
  /* Reporting -1 for a failed read would look like a counter reset. */
  if (!cpu_times(&user_s, &system_s)) return;
  observe_mode(ob, "user", user_s);
  observe_mode(ob, "system", system_s);
}

static void observe_memory(otelc_observer *ob, void *unused) {
  (void)unused;
  int64_t rss = resident_bytes();
  if (rss >= 0) otelc_observe_int(ob, rss, NULL);
}

int otelc_process_metrics_register(otelc_sdk *sdk) {
  if (!sdk) return OTELC_ERR_INVALID;
  otelc_observable *cpu = otelc_observable_new(sdk, OTELC_OBSERVABLE_COUNTER, "process.cpu.time",
                                               "Total CPU seconds broken down by different CPU modes.",
                                               "s", observe_cpu, NULL);
  if (!cpu) return OTELC_ERR_STATE;
  otelc_observable *mem = otelc_observable_new(
      sdk, OTELC_OBSERVABLE_UP_DOWN_COUNTER, "process.memory.usage",
      "The amount of physical memory in use.", "By", observe_memory, NULL);
  if (!mem) {
    otelc_observable_free(cpu);
    return OTELC_ERR_STATE;
  }
  return OTELC_OK;
}

/* otelc/metrics.h - metric instruments, all exported with cumulative
 * temporality in one OTLP request every OTEL_METRIC_EXPORT_INTERVAL (and at
 * otelc_sdk_force_flush / otelc_sdk_free), under the SDK's resource:
 *   - synchronous histograms with explicit buckets;
 *   - observable (asynchronous) counters, up-down counters and gauges, whose
 *     callback the SDK runs at each collection.
 *
 * Handle: otelc_histogram, obtained from otelc_histogram_new and released
 * with otelc_histogram_free. The SDK keeps a reference to registered
 * instruments: otelc_histogram_free only drops the caller's reference; the
 * SDK frees the instrument at otelc_sdk_free. Recording is thread-safe and
 * never blocks on the network.
 *
 * Handle: otelc_observable, obtained from otelc_observable_new and released
 * with otelc_observable_free, which unregisters the callback: once it has
 * returned the callback is never called again and `user_data` may be
 * released. Until then `user_data` must stay valid, including during
 * otelc_sdk_free (its final collection runs the callback). The SDK frees the
 * instrument itself at otelc_sdk_free, so no handle may be used after that.
 * Handle: otelc_observer, borrowed, valid only inside the callback it is
 * passed to.
 */
#ifndef OTELC_METRICS_H
#define OTELC_METRICS_H

#include "otelc/attributes.h"
#include "otelc/common.h"
#include "otelc/sdk.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct otelc_histogram otelc_histogram;

/* The SDK's default explicit bucket boundaries
 * {0,5,10,25,50,75,100,250,500,750,1000,2500,5000,7500,10000}. */
extern const double otelc_default_ms_bounds[15];
#define OTELC_DEFAULT_MS_BOUNDS_COUNT 15

/* Registers a histogram. `bounds` (ascending, copied) may be NULL to use the
 * defaults. Registering the same name twice returns another reference to the
 * same instrument. NULL on failure. */
otelc_histogram *otelc_histogram_new(otelc_sdk *sdk, const char *name, const char *description,
                                     const char *unit, const double *bounds, size_t n_bounds);
void otelc_histogram_free(otelc_histogram *h); /* NULL allowed */

/* Records one value into the data point of attribute set `attrs` (copied on
 * first use; NULL = no attributes). */
void otelc_histogram_record(otelc_histogram *h, double value, const otelc_attributes *attrs);

typedef enum otelc_observable_kind {
  OTELC_OBSERVABLE_COUNTER = 1,     /* monotonic Sum: the value only grows */
  OTELC_OBSERVABLE_UP_DOWN_COUNTER, /* non-monotonic Sum */
  OTELC_OBSERVABLE_GAUGE            /* Gauge: a sampled value, not additive */
} otelc_observable_kind;

typedef struct otelc_observable otelc_observable;
typedef struct otelc_observer otelc_observer;

/* Reports the current values through otelc_observe_*. Runs on the SDK's
 * exporter thread, one collection at a time, so it must be quick and must not
 * call otelc_sdk_force_flush, otelc_sdk_free or otelc_observable_free. */
typedef void (*otelc_observe_fn)(otelc_observer *observer, void *user_data);

/* Registers an observable instrument. `name`, `description` (may be NULL) and
 * `unit` (may be NULL) are copied; `user_data` is borrowed (see above). NULL
 * when an argument is invalid, an observable of that name is registered and
 * not yet freed, or on allocation failure. */
otelc_observable *otelc_observable_new(otelc_sdk *sdk, otelc_observable_kind kind, const char *name,
                                       const char *description, const char *unit,
                                       otelc_observe_fn callback, void *user_data);
void otelc_observable_free(otelc_observable *o); /* NULL allowed */

/* One data point of the instrument being collected, for attribute set
 * `attrs` (copied; NULL = no attributes). Observing the same attribute set
 * again in one callback replaces the value. A NaN or infinite double is
 * ignored. */
void otelc_observe_int(otelc_observer *observer, int64_t value, const otelc_attributes *attrs);
void otelc_observe_double(otelc_observer *observer, double value, const otelc_attributes *attrs);

#ifdef __cplusplus
}
#endif
#endif

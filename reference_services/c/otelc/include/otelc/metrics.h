/* otelc/metrics.h - synchronous histograms with explicit buckets and
 * cumulative temporality, exported every OTEL_METRIC_EXPORT_INTERVAL.
 *
 * Handle: otelc_histogram, obtained from otelc_histogram_new and released
 * with otelc_histogram_free. The SDK keeps a reference to registered
 * instruments: otelc_histogram_free only drops the caller's reference; the
 * SDK frees the instrument at otelc_sdk_free. Recording is thread-safe and
 * never blocks on the network.
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

#ifdef __cplusplus
}
#endif
#endif

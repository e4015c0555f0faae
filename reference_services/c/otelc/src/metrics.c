#include <math.h>

#include "internal.h"

const double otelc_default_ms_bounds[15] = {0,   5,   10,   25,   50,   75,   100,  250,
                                            500, 750, 1000, 2500, 5000, 7500, 10000};

otelc_histogram *otelc_histogram_new(otelc_sdk *sdk, const char *name, const char *description,
                                     const char *unit, const double *bounds, size_t n_bounds) {
  if (!sdk || !name) return NULL;
  if (!bounds) {
    bounds = otelc_default_ms_bounds;
    n_bounds = OTELC_DEFAULT_MS_BOUNDS_COUNT;
  }
  for (size_t i = 1; i < n_bounds; i++)
    if (!(bounds[i] > bounds[i - 1])) return NULL;
  otelc_histogram *h = calloc(1, sizeof *h);
  if (!h) return NULL;
  h->sdk = sdk;
  h->name = otelc__strdup(name);
  h->description = otelc__strdup(description);
  h->unit = otelc__strdup(unit);
  h->n_bounds = n_bounds;
  h->bounds = malloc((n_bounds ? n_bounds : 1) * sizeof(double));
  if (!h->name || !h->description || !h->unit || !h->bounds) goto fail;
  if (n_bounds) memcpy(h->bounds, bounds, n_bounds * sizeof(double));
  pthread_mutex_init(&h->mu, NULL);
  otelc_histogram *reg = otelc__sdk_register_histogram(sdk, h);
  if (reg != h) {
    pthread_mutex_destroy(&h->mu);
    goto fail_keep;
  }
  return h;
fail:
  reg = NULL;
fail_keep:
  free(h->name), free(h->description), free(h->unit), free(h->bounds);
  free(h);
  return reg;
}

void otelc_histogram_free(otelc_histogram *h) { (void)h; /* the SDK owns instruments */ }

void otelc_histogram_record(otelc_histogram *h, double value, const otelc_attributes *attrs) {
  if (!h || isnan(value) || otelc_sdk_disabled(h->sdk)) return;
  pthread_mutex_lock(&h->mu);
  otelc_hist_point *p = h->points;
  while (p && !otelc__attributes_equal(p->attrs, attrs)) p = p->next;
  if (!p) {
    p = calloc(1, sizeof *p);
    if (!p) goto out;
    p->attrs = otelc_attributes_dup(attrs);
    p->counts = calloc(h->n_bounds + 1, sizeof(uint64_t));
    if (!p->attrs || !p->counts) {
      otelc_attributes_free(p->attrs);
      free(p->counts);
      free(p);
      goto out;
    }
    p->min = value;
    p->max = value;
    p->next = h->points;
    h->points = p;
  }
  size_t b = 0;
  while (b < h->n_bounds && value > h->bounds[b]) b++; /* bucket i: (bounds[i-1], bounds[i]] */
  p->counts[b]++;
  p->count++;
  p->sum += value;
  if (value < p->min) p->min = value;
  if (value > p->max) p->max = value;
out:
  pthread_mutex_unlock(&h->mu);
}

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

void otelc__histogram_destroy(otelc_histogram *h) {
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

/* ------------------------------------------------------------------ */
/* observable instruments                                              */

struct otelc_observer {
  otelc_obs_point *head, *tail;
};

otelc_observable *otelc_observable_new(otelc_sdk *sdk, otelc_observable_kind kind, const char *name,
                                       const char *description, const char *unit,
                                       otelc_observe_fn callback, void *user_data) {
  if (!sdk || !name || !*name || !callback) return NULL;
  if (kind != OTELC_OBSERVABLE_COUNTER && kind != OTELC_OBSERVABLE_UP_DOWN_COUNTER &&
      kind != OTELC_OBSERVABLE_GAUGE)
    return NULL;
  otelc_observable *o = calloc(1, sizeof *o);
  if (!o) return NULL;
  o->sdk = sdk;
  o->kind = kind;
  o->name = otelc__strdup(name);
  o->description = otelc__strdup(description);
  o->unit = otelc__strdup(unit);
  o->callback = callback;
  o->user_data = user_data;
  pthread_mutex_init(&o->mu, NULL);
  if (!o->name || !o->description || !o->unit || otelc__sdk_register_observable(sdk, o) != OTELC_OK) {
    otelc__observable_destroy(o);
    return NULL;
  }
  return o;
}

void otelc_observable_free(otelc_observable *o) {
  if (!o) return;
  pthread_mutex_lock(&o->mu);
  o->callback = NULL;
  o->user_data = NULL;
  pthread_mutex_unlock(&o->mu);
  /* The instrument stays linked (the exporter walks the list without the SDK
   * lock); retiring it only lets its name be registered again. */
  otelc__sdk_retire_observable(o->sdk, o);
}

void otelc__observable_destroy(otelc_observable *o) {
  pthread_mutex_destroy(&o->mu);
  free(o->name), free(o->description), free(o->unit);
  free(o);
}

static void observe(otelc_observer *ob, bool is_int, int64_t i, double d,
                    const otelc_attributes *attrs) {
  if (!ob) return;
  otelc_obs_point *p = ob->head;
  while (p && !otelc__attributes_equal(p->attrs, attrs)) p = p->next;
  if (!p) {
    p = calloc(1, sizeof *p);
    if (!p) return;
    p->attrs = otelc_attributes_dup(attrs);
    if (!p->attrs) {
      free(p);
      return;
    }
    if (ob->tail) ob->tail->next = p;
    else ob->head = p;
    ob->tail = p;
  }
  p->is_int = is_int;
  p->as_int = i;
  p->as_double = d;
}

void otelc_observe_int(otelc_observer *observer, int64_t value, const otelc_attributes *attrs) {
  observe(observer, true, value, 0, attrs);
}

void otelc_observe_double(otelc_observer *observer, double value, const otelc_attributes *attrs) {
  /* OTLP/JSON has no spelling for NaN or infinities. */
  if (isfinite(value)) observe(observer, false, 0, value, attrs);
}

otelc_obs_point *otelc__observable_collect(otelc_observable *o) {
  otelc_observer ob = {NULL, NULL};
  pthread_mutex_lock(&o->mu);
  if (o->callback) o->callback(&ob, o->user_data);
  pthread_mutex_unlock(&o->mu);
  return ob.head;
}

void otelc__obs_points_free(otelc_obs_point *p) {
  while (p) {
    otelc_obs_point *next = p->next;
    otelc_attributes_free(p->attrs);
    free(p);
    p = next;
  }
}

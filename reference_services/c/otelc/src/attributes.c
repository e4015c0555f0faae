#include "internal.h"

typedef struct attr {
  char *key;
  otelc_attr_type type;
  char *s;
  bool b;
  int64_t i;
  double d;
} attr;

struct otelc_attributes {
  attr *items;
  size_t n, cap;
};

otelc_attributes *otelc_attributes_new(void) { return calloc(1, sizeof(otelc_attributes)); }

void otelc_attributes_free(otelc_attributes *a) {
  if (!a) return;
  for (size_t i = 0; i < a->n; i++) {
    free(a->items[i].key);
    free(a->items[i].s);
  }
  free(a->items);
  free(a);
}

static attr *slot(otelc_attributes *a, const char *key) {
  if (!a || !key) return NULL;
  for (size_t i = 0; i < a->n; i++)
    if (strcmp(a->items[i].key, key) == 0) {
      free(a->items[i].s);
      a->items[i].s = NULL;
      return &a->items[i];
    }
  if (a->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 8;
    attr *items = realloc(a->items, cap * sizeof *items);
    if (!items) return NULL;
    a->items = items;
    a->cap = cap;
  }
  attr *e = &a->items[a->n];
  memset(e, 0, sizeof *e);
  e->key = otelc__strdup(key);
  if (!e->key) return NULL;
  a->n++;
  return e;
}

int otelc_attributes_set_str(otelc_attributes *a, const char *key, const char *value) {
  char *v = otelc__strdup(value);
  if (!v) return OTELC_ERR_NOMEM;
  attr *e = slot(a, key);
  if (!e) {
    free(v);
    return a && key ? OTELC_ERR_NOMEM : OTELC_ERR_INVALID;
  }
  e->type = OTELC_ATTR_STRING;
  e->s = v;
  return OTELC_OK;
}

int otelc_attributes_set_bool(otelc_attributes *a, const char *key, bool value) {
  attr *e = slot(a, key);
  if (!e) return OTELC_ERR_INVALID;
  e->type = OTELC_ATTR_BOOL;
  e->b = value;
  return OTELC_OK;
}

int otelc_attributes_set_int(otelc_attributes *a, const char *key, int64_t value) {
  attr *e = slot(a, key);
  if (!e) return OTELC_ERR_INVALID;
  e->type = OTELC_ATTR_INT;
  e->i = value;
  return OTELC_OK;
}

int otelc_attributes_set_double(otelc_attributes *a, const char *key, double value) {
  attr *e = slot(a, key);
  if (!e) return OTELC_ERR_INVALID;
  e->type = OTELC_ATTR_DOUBLE;
  e->d = value;
  return OTELC_OK;
}

size_t otelc_attributes_count(const otelc_attributes *a) { return a ? a->n : 0; }

static void view(const attr *e, otelc_attr_view *out) {
  out->key = e->key;
  out->type = e->type;
  out->str_value = e->s;
  out->bool_value = e->b;
  out->int_value = e->i;
  out->double_value = e->d;
}

int otelc_attributes_get(const otelc_attributes *a, size_t i, otelc_attr_view *out) {
  if (!a || i >= a->n || !out) return OTELC_ERR_INVALID;
  view(&a->items[i], out);
  return OTELC_OK;
}

int otelc_attributes_find(const otelc_attributes *a, const char *key, otelc_attr_view *out) {
  if (!a || !key) return OTELC_ERR_INVALID;
  for (size_t i = 0; i < a->n; i++)
    if (strcmp(a->items[i].key, key) == 0) {
      if (out) view(&a->items[i], out);
      return OTELC_OK;
    }
  return OTELC_ERR_INVALID;
}

static int copy_one(otelc_attributes *dst, const otelc_attr_view *v) {
  switch (v->type) {
  case OTELC_ATTR_STRING: return otelc_attributes_set_str(dst, v->key, v->str_value);
  case OTELC_ATTR_BOOL: return otelc_attributes_set_bool(dst, v->key, v->bool_value);
  case OTELC_ATTR_INT: return otelc_attributes_set_int(dst, v->key, v->int_value);
  case OTELC_ATTR_DOUBLE: return otelc_attributes_set_double(dst, v->key, v->double_value);
  }
  return OTELC_ERR_INVALID;
}

int otelc__attributes_merge(otelc_attributes *dst, const otelc_attributes *src) {
  otelc_attr_view v;
  for (size_t i = 0; i < otelc_attributes_count(src); i++) {
    otelc_attributes_get(src, i, &v);
    int rc = copy_one(dst, &v);
    if (rc) return rc;
  }
  return OTELC_OK;
}

otelc_attributes *otelc_attributes_dup(const otelc_attributes *src) {
  otelc_attributes *a = otelc_attributes_new();
  if (a && otelc__attributes_merge(a, src) != OTELC_OK) {
    otelc_attributes_free(a);
    return NULL;
  }
  return a;
}

bool otelc__attributes_equal(const otelc_attributes *a, const otelc_attributes *b) {
  if (otelc_attributes_count(a) != otelc_attributes_count(b)) return false;
  otelc_attr_view va, vb;
  for (size_t i = 0; i < otelc_attributes_count(a); i++) {
    otelc_attributes_get(a, i, &va);
    if (otelc_attributes_find(b, va.key, &vb) != OTELC_OK || va.type != vb.type) return false;
    switch (va.type) {
    case OTELC_ATTR_STRING:
      if (strcmp(va.str_value, vb.str_value)) return false;
      break;
    case OTELC_ATTR_BOOL:
      if (va.bool_value != vb.bool_value) return false;
      break;
    case OTELC_ATTR_INT:
      if (va.int_value != vb.int_value) return false;
      break;
    case OTELC_ATTR_DOUBLE:
      if (va.double_value != vb.double_value) return false;
      break;
    }
  }
  return true;
}

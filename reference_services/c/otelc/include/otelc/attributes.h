/* otelc/attributes.h - an ordered set of key/value attributes.
 *
 * Handle: otelc_attributes, created with otelc_attributes_new or
 * otelc_attributes_dup and released with otelc_attributes_free (caller owns).
 * Keys and string values are copied in. Setting an existing key replaces its
 * value in place (keeps the original position). Not thread-safe.
 */
#ifndef OTELC_ATTRIBUTES_H
#define OTELC_ATTRIBUTES_H

#include "otelc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum otelc_attr_type {
  OTELC_ATTR_STRING = 1,
  OTELC_ATTR_BOOL = 2,
  OTELC_ATTR_INT = 3,
  OTELC_ATTR_DOUBLE = 4
} otelc_attr_type;

/* A borrowed view of one attribute; pointers are valid until the set is
 * modified or freed. */
typedef struct otelc_attr_view {
  const char *key;
  otelc_attr_type type;
  const char *str_value; /* OTELC_ATTR_STRING */
  bool bool_value;       /* OTELC_ATTR_BOOL */
  int64_t int_value;     /* OTELC_ATTR_INT */
  double double_value;   /* OTELC_ATTR_DOUBLE */
} otelc_attr_view;

typedef struct otelc_attributes otelc_attributes;

otelc_attributes *otelc_attributes_new(void);
/* Deep copy; NULL input gives an empty set. NULL on allocation failure. */
otelc_attributes *otelc_attributes_dup(const otelc_attributes *a);
void otelc_attributes_free(otelc_attributes *a); /* NULL allowed */

int otelc_attributes_set_str(otelc_attributes *a, const char *key, const char *value);
int otelc_attributes_set_bool(otelc_attributes *a, const char *key, bool value);
int otelc_attributes_set_int(otelc_attributes *a, const char *key, int64_t value);
int otelc_attributes_set_double(otelc_attributes *a, const char *key, double value);

size_t otelc_attributes_count(const otelc_attributes *a); /* NULL -> 0 */
/* Fills *out with attribute i (0-based). OTELC_ERR_INVALID when out of range. */
int otelc_attributes_get(const otelc_attributes *a, size_t i, otelc_attr_view *out);
/* Finds by key; returns OTELC_OK and fills *out, or OTELC_ERR_INVALID. */
int otelc_attributes_find(const otelc_attributes *a, const char *key, otelc_attr_view *out);

#ifdef __cplusplus
}
#endif
#endif

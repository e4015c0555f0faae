/* W3C traceparent / tracestate / baggage parsing and formatting. */
#include <stdio.h>

#include "internal.h"

/* ------------------------------------------------------------------ */
/* small growable string                                               */

typedef struct sbuf {
  char *p;
  size_t len, cap;
  bool oom;
} sbuf;

static void sb_append(sbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = true;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  if (n) memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static char *sb_finish(sbuf *b) {
  if (b->oom) {
    free(b->p);
    return NULL;
  }
  if (!b->p) return otelc__strdup("");
  return b->p;
}

static bool is_ows(char c) { return c == ' ' || c == '\t'; }

static void trim_ows(const char **s, size_t *n) {
  while (*n > 0 && is_ows((*s)[0])) {
    (*s)++;
    (*n)--;
  }
  while (*n > 0 && is_ows((*s)[*n - 1])) (*n)--;
}

/* ------------------------------------------------------------------ */
/* traceparent                                                         */

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1; /* uppercase is invalid */
}

static bool parse_hex(const char *s, size_t nbytes, uint8_t *out) {
  for (size_t i = 0; i < nbytes; i++) {
    int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = (uint8_t)((hi << 4) | lo);
  }
  return true;
}

int otelc_traceparent_parse(const char *value, size_t len, otelc_span_context *out) {
  otelc_span_context sc;
  memset(&sc, 0, sizeof sc);
  if (out) memset(out, 0, sizeof *out);
  if (!value) return OTELC_ERR_INVALID;
  trim_ows(&value, &len);
  if (len < OTELC_TRACEPARENT_LEN) return OTELC_ERR_INVALID;
  uint8_t version, flags;
  if (!parse_hex(value, 1, &version)) return OTELC_ERR_INVALID;
  if (version == 0xff) return OTELC_ERR_INVALID;
  if (value[2] != '-' || value[35] != '-' || value[52] != '-') return OTELC_ERR_INVALID;
  if (!parse_hex(value + 3, 16, sc.trace_id)) return OTELC_ERR_INVALID;
  if (!parse_hex(value + 36, 8, sc.span_id)) return OTELC_ERR_INVALID;
  if (!parse_hex(value + 53, 1, &flags)) return OTELC_ERR_INVALID;
  if (version == 0x00) {
    if (len != OTELC_TRACEPARENT_LEN) return OTELC_ERR_INVALID;
  } else if (len > OTELC_TRACEPARENT_LEN && value[OTELC_TRACEPARENT_LEN] != '-') {
    return OTELC_ERR_INVALID;
  }
  if (otelc__all_zero(sc.trace_id, 16) || otelc__all_zero(sc.span_id, 8)) return OTELC_ERR_INVALID;
  sc.trace_flags = flags;
  sc.is_remote = true;
  if (out) *out = sc;
  return OTELC_OK;
}

int otelc_traceparent_format(const otelc_span_context *sc, char out[OTELC_TRACEPARENT_LEN + 1]) {
  out[0] = '\0';
  if (!otelc_span_context_is_valid(sc)) return OTELC_ERR_INVALID;
  char tid[33], sid[17];
  otelc__hex(sc->trace_id, 16, tid);
  otelc__hex(sc->span_id, 8, sid);
  snprintf(out, OTELC_TRACEPARENT_LEN + 1, "00-%s-%s-%02x", tid, sid,
           (unsigned)(sc->trace_flags & (OTELC_FLAG_SAMPLED | OTELC_FLAG_RANDOM)));
  return OTELC_OK;
}

/* ------------------------------------------------------------------ */
/* tracestate                                                          */

typedef struct kv {
  char *key;
  char *value;
  char *props; /* baggage only */
} kv;

struct otelc_tracestate {
  kv *items;
  size_t n, cap;
};

otelc_tracestate *otelc_tracestate_new(void) { return calloc(1, sizeof(otelc_tracestate)); }

static void kv_free(kv *e) {
  free(e->key);
  free(e->value);
  free(e->props);
}

void otelc_tracestate_free(otelc_tracestate *ts) {
  if (!ts) return;
  for (size_t i = 0; i < ts->n; i++) kv_free(&ts->items[i]);
  free(ts->items);
  free(ts);
}

static int ts_push(otelc_tracestate *ts, const char *k, size_t kn, const char *v, size_t vn) {
  if (ts->n == ts->cap) {
    size_t cap = ts->cap ? ts->cap * 2 : 8;
    kv *items = realloc(ts->items, cap * sizeof *items);
    if (!items) return OTELC_ERR_NOMEM;
    ts->items = items;
    ts->cap = cap;
  }
  kv *e = &ts->items[ts->n];
  e->key = otelc__strndup(k, kn);
  e->value = otelc__strndup(v, vn);
  e->props = NULL;
  if (!e->key || !e->value) {
    kv_free(e);
    return OTELC_ERR_NOMEM;
  }
  ts->n++;
  return OTELC_OK;
}

otelc_tracestate *otelc_tracestate_dup(const otelc_tracestate *src) {
  otelc_tracestate *ts = otelc_tracestate_new();
  if (!ts || !src) return ts;
  for (size_t i = 0; i < src->n; i++) {
    const kv *e = &src->items[i];
    if (ts_push(ts, e->key, strlen(e->key), e->value, strlen(e->value)) != OTELC_OK) {
      otelc_tracestate_free(ts);
      return NULL;
    }
  }
  return ts;
}

static bool ts_keychar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '*' ||
         c == '/';
}

static bool ts_key_valid(const char *k, size_t n) {
  if (n == 0 || n > 256) return false;
  const char *at = memchr(k, '@', n);
  if (!at) {
    if (!((k[0] >= 'a' && k[0] <= 'z') || (k[0] >= '0' && k[0] <= '9'))) return false;
    for (size_t i = 1; i < n; i++)
      if (!ts_keychar(k[i])) return false;
    return true;
  }
  size_t tn = (size_t)(at - k), sn = n - tn - 1;
  if (tn < 1 || tn > 241 || sn < 1 || sn > 14) return false;
  if (!((k[0] >= 'a' && k[0] <= 'z') || (k[0] >= '0' && k[0] <= '9'))) return false;
  for (size_t i = 1; i < tn; i++)
    if (!ts_keychar(k[i])) return false;
  const char *s = at + 1;
  if (!(s[0] >= 'a' && s[0] <= 'z')) return false;
  for (size_t i = 1; i < sn; i++)
    if (!ts_keychar(s[i])) return false; /* a second '@' fails here */
  return true;
}

static bool ts_value_valid(const char *v, size_t n) {
  if (n == 0 || n > 256) return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)v[i];
    if (c < 0x20 || c > 0x7e || c == ',' || c == '=') return false;
  }
  return v[n - 1] != ' ';
}

/* Parses one header value's members into ts. */
static int ts_parse_one(otelc_tracestate *ts, const char *s, size_t len) {
  size_t pos = 0;
  while (pos <= len) {
    const char *comma = memchr(s + pos, ',', len - pos);
    size_t end = comma ? (size_t)(comma - s) : len;
    const char *m = s + pos;
    size_t mn = end - pos;
    trim_ows(&m, &mn);
    if (mn > 0) {
      const char *eq = memchr(m, '=', mn);
      if (!eq) return OTELC_ERR_INVALID;
      size_t kn = (size_t)(eq - m);
      if (!ts_key_valid(m, kn) || !ts_value_valid(eq + 1, mn - kn - 1)) return OTELC_ERR_INVALID;
      for (size_t i = 0; i < ts->n; i++)
        if (strlen(ts->items[i].key) == kn && memcmp(ts->items[i].key, m, kn) == 0)
          return OTELC_ERR_INVALID; /* duplicate key */
      if (ts->n >= OTELC_TRACESTATE_MAX_MEMBERS) return OTELC_ERR_LIMIT;
      int rc = ts_push(ts, m, kn, eq + 1, mn - kn - 1);
      if (rc) return rc;
    }
    if (!comma) break;
    pos = end + 1;
  }
  return OTELC_OK;
}

int otelc_tracestate_parse(const char *const *values, const size_t *lens, size_t n,
                           otelc_tracestate **out) {
  *out = NULL;
  otelc_tracestate *ts = otelc_tracestate_new();
  if (!ts) return OTELC_ERR_NOMEM;
  for (size_t i = 0; i < n; i++) {
    if (!values[i]) continue;
    int rc = ts_parse_one(ts, values[i], lens[i]);
    if (rc) {
      otelc_tracestate_free(ts);
      return rc;
    }
  }
  *out = ts;
  return OTELC_OK;
}

size_t otelc_tracestate_count(const otelc_tracestate *ts) { return ts ? ts->n : 0; }

int otelc_tracestate_get(const otelc_tracestate *ts, size_t i, const char **key,
                         const char **value) {
  if (!ts || i >= ts->n) return OTELC_ERR_INVALID;
  if (key) *key = ts->items[i].key;
  if (value) *value = ts->items[i].value;
  return OTELC_OK;
}

static long kv_index(const kv *items, size_t n, const char *key) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(items[i].key, key) == 0) return (long)i;
  return -1;
}

const char *otelc_tracestate_find(const otelc_tracestate *ts, const char *key) {
  if (!ts || !key) return NULL;
  long i = kv_index(ts->items, ts->n, key);
  return i < 0 ? NULL : ts->items[i].value;
}

int otelc_tracestate_remove(otelc_tracestate *ts, const char *key) {
  if (!ts || !key) return OTELC_ERR_INVALID;
  long i = kv_index(ts->items, ts->n, key);
  if (i < 0) return OTELC_ERR_INVALID;
  kv_free(&ts->items[i]);
  memmove(&ts->items[i], &ts->items[i + 1], (ts->n - (size_t)i - 1) * sizeof(kv));
  ts->n--;
  return OTELC_OK;
}

int otelc_tracestate_set(otelc_tracestate *ts, const char *key, const char *value) {
  if (!ts || !key || !value) return OTELC_ERR_INVALID;
  if (!ts_key_valid(key, strlen(key)) || !ts_value_valid(value, strlen(value)))
    return OTELC_ERR_INVALID;
  otelc_tracestate_remove(ts, key);
  if (ts->n >= OTELC_TRACESTATE_MAX_MEMBERS) {
    kv_free(&ts->items[ts->n - 1]);
    ts->n--;
  }
  int rc = ts_push(ts, key, strlen(key), value, strlen(value));
  if (rc) return rc;
  kv last = ts->items[ts->n - 1];
  memmove(&ts->items[1], &ts->items[0], (ts->n - 1) * sizeof(kv));
  ts->items[0] = last;
  return OTELC_OK;
}

char *otelc_tracestate_format(const otelc_tracestate *ts) {
  sbuf b = {0};
  for (size_t i = 0; ts && i < ts->n; i++) {
    if (i) sb_append(&b, ",", 1);
    sb_append(&b, ts->items[i].key, strlen(ts->items[i].key));
    sb_append(&b, "=", 1);
    sb_append(&b, ts->items[i].value, strlen(ts->items[i].value));
  }
  return sb_finish(&b);
}

/* ------------------------------------------------------------------ */
/* baggage                                                             */

struct otelc_baggage {
  kv *items;
  size_t n, cap;
  size_t bytes; /* approximate encoded size */
};

otelc_baggage *otelc_baggage_new(void) { return calloc(1, sizeof(otelc_baggage)); }

void otelc_baggage_free(otelc_baggage *b) {
  if (!b) return;
  for (size_t i = 0; i < b->n; i++) kv_free(&b->items[i]);
  free(b->items);
  free(b);
}

static bool tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return strchr("!#$%&'*+-.^_`|~", c) != NULL && c != 0;
}

static bool baggage_octet(unsigned char c) {
  return c == 0x21 || (c >= 0x23 && c <= 0x2b) || (c >= 0x2d && c <= 0x3a) ||
         (c >= 0x3c && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

static size_t encoded_len(const char *v) {
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)v; *p; p++)
    n += (baggage_octet(*p) && *p != '%') ? 1 : 3;
  return n;
}

static size_t member_bytes(const char *k, const char *v, const char *props) {
  return strlen(k) + 1 + encoded_len(v) + (props && *props ? 1 + strlen(props) : 0);
}

static int bg_put(otelc_baggage *b, const char *k, size_t kn, const char *v, size_t vn,
                  const char *p, size_t pn, bool enforce_limits) {
  char *key = otelc__strndup(k, kn), *val = otelc__strndup(v, vn), *props = otelc__strndup(p, pn);
  if (!key || !val || !props) {
    free(key), free(val), free(props);
    return OTELC_ERR_NOMEM;
  }
  long idx = kv_index(b->items, b->n, key);
  size_t mb = member_bytes(key, val, props);
  if (idx >= 0) { /* later value wins */
    kv *e = &b->items[idx];
    size_t old = member_bytes(e->key, e->value, e->props);
    kv_free(e);
    e->key = key, e->value = val, e->props = props;
    b->bytes = b->bytes - old + mb;
    return OTELC_OK;
  }
  size_t newbytes = b->bytes + mb + (b->n ? 1 : 0);
  if (enforce_limits && (b->n >= OTELC_BAGGAGE_MAX_MEMBERS || newbytes > OTELC_BAGGAGE_MAX_BYTES)) {
    free(key), free(val), free(props);
    return OTELC_ERR_LIMIT;
  }
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 8;
    kv *items = realloc(b->items, cap * sizeof *items);
    if (!items) {
      free(key), free(val), free(props);
      return OTELC_ERR_NOMEM;
    }
    b->items = items;
    b->cap = cap;
  }
  b->items[b->n].key = key, b->items[b->n].value = val, b->items[b->n].props = props;
  b->n++;
  b->bytes = newbytes;
  return OTELC_OK;
}

otelc_baggage *otelc_baggage_dup(const otelc_baggage *src) {
  otelc_baggage *b = otelc_baggage_new();
  if (!b || !src) return b;
  for (size_t i = 0; i < src->n; i++) {
    const kv *e = &src->items[i];
    if (bg_put(b, e->key, strlen(e->key), e->value, strlen(e->value), e->props, strlen(e->props),
               false)) {
      otelc_baggage_free(b);
      return NULL;
    }
  }
  return b;
}

static int unhex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decodes a percent-encoded baggage value into out (len+1 bytes). false if invalid. */
static bool bg_decode(const char *v, size_t n, char *out, size_t *outn) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)v[i];
    if (c == '%') {
      int hi, lo;
      if (i + 2 >= n) return false;
      hi = unhex(v[i + 1]);
      lo = unhex(v[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out[o++] = (char)((hi << 4) | lo);
      i += 2;
    } else if (baggage_octet(c)) {
      out[o++] = (char)c;
    } else {
      return false;
    }
  }
  out[o] = '\0';
  *outn = o;
  return true;
}

static int bg_parse_member(otelc_baggage *b, const char *m, size_t mn) {
  const char *semi = memchr(m, ';', mn);
  size_t kvn = semi ? (size_t)(semi - m) : mn;
  const char *props = semi ? semi + 1 : "";
  size_t pn = semi ? mn - kvn - 1 : 0;
  const char *eq = memchr(m, '=', kvn);
  if (!eq) return OTELC_ERR_INVALID;
  const char *k = m;
  size_t kn = (size_t)(eq - m);
  trim_ows(&k, &kn);
  if (kn == 0) return OTELC_ERR_INVALID;
  for (size_t i = 0; i < kn; i++)
    if (!tchar((unsigned char)k[i])) return OTELC_ERR_INVALID;
  const char *v = eq + 1;
  size_t vn = (size_t)(m + kvn - v);
  trim_ows(&v, &vn);
  trim_ows(&props, &pn);
  /* properties: ';'-separated key or key=value with OWS; validate loosely */
  for (size_t i = 0; i < pn; i++) {
    unsigned char c = (unsigned char)props[i];
    if (c < 0x20 || c > 0x7e || c == ',') return OTELC_ERR_INVALID;
  }
  char *dec = malloc(vn + 1);
  if (!dec) return OTELC_ERR_NOMEM;
  size_t dn = 0;
  if (!bg_decode(v, vn, dec, &dn)) {
    free(dec);
    return OTELC_ERR_INVALID;
  }
  int rc = bg_put(b, k, kn, dec, dn, props, pn, true);
  free(dec);
  return rc;
}

int otelc_baggage_parse(const char *const *values, const size_t *lens, size_t n,
                        otelc_baggage **out) {
  *out = NULL;
  otelc_baggage *b = otelc_baggage_new();
  if (!b) return OTELC_ERR_NOMEM;
  for (size_t i = 0; i < n; i++) {
    const char *s = values[i];
    size_t len = lens[i], pos = 0;
    if (!s) continue;
    while (pos <= len) {
      const char *comma = memchr(s + pos, ',', len - pos);
      size_t end = comma ? (size_t)(comma - s) : len;
      const char *m = s + pos;
      size_t mn = end - pos;
      trim_ows(&m, &mn);
      if (mn > 0) {
        int rc = bg_parse_member(b, m, mn);
        if (rc == OTELC_ERR_NOMEM) {
          otelc_baggage_free(b);
          return rc;
        }
        /* invalid members and members over the limits are skipped whole */
      }
      if (!comma) break;
      pos = end + 1;
    }
  }
  *out = b;
  return OTELC_OK;
}

size_t otelc_baggage_count(const otelc_baggage *b) { return b ? b->n : 0; }

int otelc_baggage_get(const otelc_baggage *b, size_t i, const char **key, const char **value,
                      const char **properties) {
  if (!b || i >= b->n) return OTELC_ERR_INVALID;
  if (key) *key = b->items[i].key;
  if (value) *value = b->items[i].value;
  if (properties) *properties = b->items[i].props;
  return OTELC_OK;
}

const char *otelc_baggage_find(const otelc_baggage *b, const char *key) {
  if (!b || !key) return NULL;
  long i = kv_index(b->items, b->n, key);
  return i < 0 ? NULL : b->items[i].value;
}

int otelc_baggage_set(otelc_baggage *b, const char *key, const char *value,
                      const char *properties) {
  if (!b || !key || !value || !*key) return OTELC_ERR_INVALID;
  for (const char *p = key; *p; p++)
    if (!tchar((unsigned char)*p)) return OTELC_ERR_INVALID;
  if (!properties) properties = "";
  return bg_put(b, key, strlen(key), value, strlen(value), properties, strlen(properties), true);
}

char *otelc_baggage_format(const otelc_baggage *b) {
  static const char digits[] = "0123456789ABCDEF";
  sbuf s = {0};
  for (size_t i = 0; b && i < b->n; i++) {
    const kv *e = &b->items[i];
    if (i) sb_append(&s, ",", 1);
    sb_append(&s, e->key, strlen(e->key));
    sb_append(&s, "=", 1);
    for (const unsigned char *p = (const unsigned char *)e->value; *p; p++) {
      if (baggage_octet(*p) && *p != '%') {
        sb_append(&s, (const char *)p, 1);
      } else {
        char enc[3] = {'%', digits[*p >> 4], digits[*p & 15]};
        sb_append(&s, enc, 3);
      }
    }
    if (e->props && *e->props) {
      sb_append(&s, ";", 1);
      sb_append(&s, e->props, strlen(e->props));
    }
  }
  return sb_finish(&s);
}

/* ------------------------------------------------------------------ */
/* extract / inject                                                    */

#define MAX_VALUES 64

int otelc_extract(unsigned propagators, const otelc_header *headers, size_t n,
                  otelc_span_context *parent, otelc_tracestate **ts, otelc_baggage **baggage) {
  const char *tp = NULL;
  size_t tpn = 0, ntp = 0;
  const char *tsv[MAX_VALUES], *bgv[MAX_VALUES];
  size_t tsl[MAX_VALUES], bgl[MAX_VALUES], nts = 0, nbg = 0;
  bool ts_overflow = false;
  for (size_t i = 0; i < n; i++) {
    const otelc_header *h = &headers[i];
    if (!h->key) continue;
    if (otelc__casecmp_n(h->key, h->key_len, "traceparent") == 0) {
      tp = h->value, tpn = h->value_len, ntp++;
    } else if (otelc__casecmp_n(h->key, h->key_len, "tracestate") == 0) {
      if (nts < MAX_VALUES) tsv[nts] = h->value, tsl[nts++] = h->value_len;
      else ts_overflow = true;
    } else if (otelc__casecmp_n(h->key, h->key_len, "baggage") == 0) {
      if (nbg < MAX_VALUES) bgv[nbg] = h->value, bgl[nbg++] = h->value_len;
    }
  }
  otelc_span_context sc;
  memset(&sc, 0, sizeof sc);
  int rc = OTELC_ERR_INVALID;
  if (ts) *ts = NULL;
  if (baggage) *baggage = NULL;
  if (propagators & OTELC_PROPAGATOR_TRACECONTEXT) {
    if (ntp == 1 && otelc_traceparent_parse(tp, tpn, &sc) == OTELC_OK) {
      rc = OTELC_OK;
      if (ts && !ts_overflow) {
        if (otelc_tracestate_parse(tsv, tsl, nts, ts) != OTELC_OK) *ts = NULL;
      }
    } else {
      memset(&sc, 0, sizeof sc);
    }
  }
  if (parent) *parent = sc;
  if (baggage && (propagators & OTELC_PROPAGATOR_BAGGAGE) && nbg > 0) {
    if (otelc_baggage_parse(bgv, bgl, nbg, baggage) != OTELC_OK) *baggage = NULL;
  }
  return rc;
}

int otelc_inject(unsigned propagators, const otelc_span_context *sc, const otelc_tracestate *ts,
                 const otelc_baggage *baggage, otelc_header_setter set, void *carrier) {
  int count = 0;
  if ((propagators & OTELC_PROPAGATOR_TRACECONTEXT) && otelc_span_context_is_valid(sc)) {
    char tp[OTELC_TRACEPARENT_LEN + 1];
    otelc_traceparent_format(sc, tp);
    set(carrier, "traceparent", tp);
    count++;
    if (otelc_tracestate_count(ts) > 0) {
      char *s = otelc_tracestate_format(ts);
      if (s) {
        set(carrier, "tracestate", s);
        count++;
      }
      free(s);
    }
  }
  if ((propagators & OTELC_PROPAGATOR_BAGGAGE) && otelc_baggage_count(baggage) > 0) {
    char *s = otelc_baggage_format(baggage);
    if (s) {
      set(carrier, "baggage", s);
      count++;
    }
    free(s);
  }
  return count;
}

#include <errno.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>

#include "internal.h"

char *otelc__strndup(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (!p) return NULL;
  if (n) memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

char *otelc__strdup(const char *s) { return otelc__strndup(s ? s : "", s ? strlen(s) : 0); }

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int otelc__pct_decode(const char *s, size_t n, char *out, size_t *out_len) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] != '%') {
      out[o++] = s[i];
      continue;
    }
    int hi = i + 2 < n ? hex_digit(s[i + 1]) : -1, lo = i + 2 < n ? hex_digit(s[i + 2]) : -1;
    if (hi < 0 || lo < 0) return OTELC_ERR_INVALID;
    out[o++] = (char)(hi << 4 | lo);
    i += 2;
  }
  out[o] = '\0';
  if (out_len) *out_len = o;
  return OTELC_OK;
}

void otelc__hex(const uint8_t *in, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 0xf];
  }
  out[2 * n] = '\0';
}

int otelc__random_bytes(void *buf, size_t n) {
  uint8_t *p = buf;
  while (n > 0) {
    ssize_t r = getrandom(p, n, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return OTELC_ERR_STATE;
    }
    p += r;
    n -= (size_t)r;
  }
  return OTELC_OK;
}

bool otelc__all_zero(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return false;
  return true;
}

static int lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

int otelc__casecmp_n(const char *a, size_t an, const char *b) {
  size_t bn = strlen(b);
  if (an != bn) return 1;
  for (size_t i = 0; i < an; i++)
    if (lower((unsigned char)a[i]) != lower((unsigned char)b[i])) return 1;
  return 0;
}

bool otelc_span_context_is_valid(const otelc_span_context *sc) {
  return sc && !otelc__all_zero(sc->trace_id, 16) && !otelc__all_zero(sc->span_id, 8);
}

void otelc_trace_id_hex(const otelc_span_context *sc, char out[33]) { otelc__hex(sc->trace_id, 16, out); }
void otelc_span_id_hex(const otelc_span_context *sc, char out[17]) { otelc__hex(sc->span_id, 8, out); }
void otelc_string_free(char *s) { free(s); }

uint64_t otelc_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

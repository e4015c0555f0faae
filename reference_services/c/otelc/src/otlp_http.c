/* OTLP/HTTP transport: the exporter headers and compression, and one POST
 * with the retry rules of the OTLP spec (429/502/503/504 and connection
 * errors, exponential backoff with jitter, Retry-After), bounded by the
 * export timeout. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>
#include <zlib.h>

#include "internal.h"

struct otelc__http {
  CURL *curl;
  struct curl_slist *headers; /* Content-Type, Content-Encoding, then the user's */
  bool gzip;
  uint32_t timeout_ms;
};

/* ------------------------------------------------------------------ */
/* OTEL_EXPORTER_OTLP_HEADERS                                          */

static bool is_ows(char c) { return c == ' ' || c == '\t'; }

static void trim_ows(const char **s, size_t *n) {
  while (*n && is_ows(**s)) (*s)++, (*n)--;
  while (*n && is_ows((*s)[*n - 1])) (*n)--;
}

/* RFC 9110 token: anything else would corrupt the request line it lands in. */
static bool is_token(const char *s, size_t n) {
  if (!n) return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          strchr("!#$%&'*+-.^_`|~", c)))
      return false;
  }
  return true;
}

/* A decoded %0D%0A would let the variable inject headers of its own. */
static bool is_field_value(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

/* The exporter sets these itself; a second copy would contradict the body. */
static bool is_reserved(const char *k, size_t n) {
  return !otelc__casecmp_n(k, n, "content-type") || !otelc__casecmp_n(k, n, "content-encoding") ||
         !otelc__casecmp_n(k, n, "content-length");
}

/* curl_slist_append returns NULL on failure and leaves the list as it was. */
static bool append_line(struct curl_slist **list, const char *line) {
  struct curl_slist *grown = curl_slist_append(*list, line);
  if (grown) *list = grown;
  return grown != NULL;
}

static int append_member(const char *m, size_t mn, struct curl_slist **list) {
  const char *eq = memchr(m, '=', mn);
  const char *k = m, *v = eq ? eq + 1 : NULL;
  size_t kn = eq ? (size_t)(eq - m) : mn, vn = eq ? mn - kn - 1 : 0;
  trim_ows(&k, &kn);
  if (!eq) {
    if (kn) fprintf(stderr, "otelc: OTEL_EXPORTER_OTLP_HEADERS member '%.*s' has no '=', skipped\n",
                    (int)mn, m);
    return 0;
  }
  trim_ows(&v, &vn);
  if (!is_token(k, kn) || is_reserved(k, kn)) {
    fprintf(stderr, "otelc: OTEL_EXPORTER_OTLP_HEADERS key '%.*s' not usable, skipped\n", (int)kn, k);
    return 0;
  }
  /* Room for "key: value\0"; the decoded value is never longer than vn. */
  char *line = malloc(kn + vn + 3);
  if (!line) return OTELC_ERR_NOMEM;
  memcpy(line, k, kn);
  size_t dn;
  if (otelc__pct_decode(v, vn, line + kn + 2, &dn) != OTELC_OK || !is_field_value(line + kn + 2, dn)) {
    fprintf(stderr, "otelc: OTEL_EXPORTER_OTLP_HEADERS value of '%.*s' is not a valid "
                    "percent-encoded header value, skipped\n", (int)kn, k);
    free(line);
    return 0;
  }
  /* libcurl reads "key:" as "remove this header"; "key;" sends it empty. */
  if (dn) line[kn] = ':', line[kn + 1] = ' ';
  else line[kn] = ';', line[kn + 1] = '\0';
  bool ok = append_line(list, line);
  free(line);
  return ok ? 1 : OTELC_ERR_NOMEM;
}

int otelc__otlp_headers_append(const char *spec, struct curl_slist **list) {
  int added = 0;
  for (const char *p = spec; p && *p;) {
    const char *comma = strchr(p, ',');
    size_t n = comma ? (size_t)(comma - p) : strlen(p);
    int rc = append_member(p, n, list);
    if (rc < 0) return rc;
    added += rc;
    if (!comma) break;
    p = comma + 1;
  }
  return added;
}

/* ------------------------------------------------------------------ */
/* compression                                                         */

int otelc__gzip(const void *in, size_t n, unsigned char **out, size_t *out_n) {
  *out = NULL;
  *out_n = 0;
  /* zlib counts in uInt; an export that large is a bug upstream anyway. */
  if (n > UINT_MAX) return OTELC_ERR_LIMIT;
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  /* windowBits 15 + 16 selects the gzip wrapper rather than zlib's own. */
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return OTELC_ERR_NOMEM;
  uLong cap = deflateBound(&zs, (uLong)n);
  unsigned char *buf = cap <= UINT_MAX ? malloc(cap) : NULL;
  int rc = OTELC_ERR_NOMEM;
  if (buf) {
    zs.next_in = (Bytef *)(uintptr_t)in; /* zlib's API is not const-correct */
    zs.avail_in = (uInt)n;
    zs.next_out = buf;
    zs.avail_out = (uInt)cap;
    /* deflateBound guarantees a single Z_FINISH call completes the stream. */
    if (deflate(&zs, Z_FINISH) == Z_STREAM_END) {
      *out = buf;
      *out_n = zs.total_out;
      rc = OTELC_OK;
    } else {
      free(buf);
    }
  }
  deflateEnd(&zs);
  return rc;
}

/* ------------------------------------------------------------------ */
/* transport                                                           */

otelc__http *otelc__http_new(const char *headers, otelc_compression compression,
                             uint32_t timeout_ms) {
  otelc__http *h = calloc(1, sizeof *h);
  if (!h) return NULL;
  h->gzip = compression == OTELC_COMPRESSION_GZIP;
  h->timeout_ms = timeout_ms;
  h->curl = curl_easy_init();
  bool ok = h->curl && append_line(&h->headers, "Content-Type: application/json");
  if (ok && h->gzip) ok = append_line(&h->headers, "Content-Encoding: gzip");
  if (ok) ok = otelc__otlp_headers_append(headers, &h->headers) >= 0;
  if (!ok) {
    otelc__http_free(h);
    return NULL;
  }
  return h;
}

void otelc__http_free(otelc__http *h) {
  if (!h) return;
  if (h->curl) curl_easy_cleanup(h->curl);
  curl_slist_free_all(h->headers);
  free(h);
}

static size_t discard_body(char *p, size_t sz, size_t n, void *ud) {
  (void)p, (void)ud;
  return sz * n;
}

typedef struct hdr_state {
  long retry_after_s;
} hdr_state;

static size_t on_header(char *p, size_t sz, size_t n, void *ud) {
  hdr_state *h = ud;
  size_t len = sz * n;
  if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) h->retry_after_s = strtol(p + 12, NULL, 10);
  return len;
}

static void sleep_ms(uint64_t ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
}

bool otelc__http_post(otelc__http *h, const char *url, const char *body, size_t len) {
  if (!h) return false;
  CURL *c = h->curl;
  unsigned char *zipped = NULL;
  if (h->gzip) {
    size_t zn;
    if (otelc__gzip(body, len, &zipped, &zn) != OTELC_OK) {
      fprintf(stderr, "otelc: gzip of an export to %s failed, dropped\n", url);
      return false;
    }
    body = (const char *)zipped;
    len = zn;
  }
  uint64_t deadline = otelc__mono_ms() + h->timeout_ms;
  uint64_t backoff = 100;
  bool ok = false;
  for (int attempt = 0; attempt < 5; attempt++) {
    hdr_state hs = {-1};
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->headers);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hs);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    uint64_t now = otelc__mono_ms();
    if (now >= deadline) break;
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(deadline - now));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(deadline - now));
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (rc == CURLE_OK && status >= 200 && status < 300) {
      ok = true;
      break;
    }
    bool retry = rc == CURLE_OK
                     ? (status == 429 || status == 502 || status == 503 || status == 504)
                     : (rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT ||
                        rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING);
    if (!retry) {
      fprintf(stderr, "otelc: export to %s failed: %s (HTTP %ld)\n", url,
              rc == CURLE_OK ? "rejected" : curl_easy_strerror(rc), status);
      break;
    }
    uint64_t wait = backoff + (uint64_t)(rand() % (int)(backoff / 2 + 1));
    if (hs.retry_after_s >= 0) wait = (uint64_t)hs.retry_after_s * 1000;
    backoff *= 2;
    if (otelc__mono_ms() + wait >= deadline) break;
    sleep_ms(wait);
  }
  free(zipped);
  return ok;
}

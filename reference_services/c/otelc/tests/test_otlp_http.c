/* Transport unit tests: percent-decoding, OTEL_EXPORTER_OTLP_HEADERS parsing
 * and gzip, through the library's internal functions (no network; the
 * exporter test covers the same behaviour over a real connection). */
#include <stdlib.h>
#include <zlib.h>

#include "internal.h"
#include "testutil.h"

static void test_pct_decode(void) {
  char out[32];
  size_t n = 99;
  CHECK(otelc__pct_decode("two%20words", 11, out, &n) == OTELC_OK);
  CHECK_STR(out, "two words");
  CHECK(n == 9);
  CHECK(otelc__pct_decode("%2c%2C%3d%25", 12, out, NULL) == OTELC_OK);
  CHECK_STR(out, ",,=%");
  CHECK(otelc__pct_decode("a+b", 3, out, NULL) == OTELC_OK); /* not form encoding */
  CHECK_STR(out, "a+b");
  CHECK(otelc__pct_decode("%C3%A9", 6, out, &n) == OTELC_OK && n == 2);
  CHECK((unsigned char)out[0] == 0xc3 && (unsigned char)out[1] == 0xa9 && out[2] == 0);
  CHECK(otelc__pct_decode("", 0, out, &n) == OTELC_OK && n == 0 && out[0] == 0);
  CHECK(otelc__pct_decode("x%00y", 5, out, &n) == OTELC_OK && n == 3 && out[2] == 'y');
  /* only the first n bytes count: the escape is cut short */
  CHECK(otelc__pct_decode("ab%2", 3, out, NULL) == OTELC_ERR_INVALID);
  CHECK(otelc__pct_decode("ab%20", 4, out, NULL) == OTELC_ERR_INVALID);
  CHECK(otelc__pct_decode("%2", 2, out, NULL) == OTELC_ERR_INVALID);
  CHECK(otelc__pct_decode("%", 1, out, NULL) == OTELC_ERR_INVALID);
  CHECK(otelc__pct_decode("%zz", 3, out, NULL) == OTELC_ERR_INVALID);
  CHECK(otelc__pct_decode("%g0", 3, out, NULL) == OTELC_ERR_INVALID);
}

/* The lines of a header list joined with '|', for one comparison per case. */
static char *joined(const struct curl_slist *l) {
  size_t n = 1;
  for (const struct curl_slist *e = l; e; e = e->next) n += strlen(e->data) + 1;
  char *s = calloc(1, n);
  for (const struct curl_slist *e = l; e; e = e->next) {
    if (e != l) strcat(s, "|");
    strcat(s, e->data);
  }
  return s;
}

static void check_headers(const char *spec, int want_n, const char *want) {
  struct curl_slist *l = NULL;
  int n = otelc__otlp_headers_append(spec, &l);
  char *got = joined(l);
  CHECK(n == want_n);
  CHECK_STR(got, want);
  free(got);
  curl_slist_free_all(l);
}

static void test_headers(void) {
  check_headers("x-conformance-note=two%20words", 1, "x-conformance-note: two words");
  check_headers(" a = 1 ,b=2,, c=x%2Cy%3Dz ", 3, "a: 1|b: 2|c: x,y=z");
  /* a raw space inside a value is kept: the spec's form is lenient in practice */
  check_headers("Authorization=Basic%20dXNlcjpwYXNz,api-key=Bearer abc", 2,
                "Authorization: Basic dXNlcjpwYXNz|api-key: Bearer abc");
  /* an empty value must still be sent: curl's "key;" form, not "key:" (removal) */
  check_headers("x-empty=", 1, "x-empty;");
  /* '=' inside a value belongs to it; ';' is no property separator here */
  check_headers("k=a=b;c", 1, "k: a=b;c");
  check_headers("", 0, "");
  check_headers(NULL, 0, "");
  /* skipped members, the valid ones around them kept */
  check_headers("novalue,ok=1", 1, "ok: 1");
  check_headers("k=bad%zz,k2=%2,ok=1", 1, "ok: 1");
  /* keys are tokens, taken as they are ('%' is a token character) */
  check_headers("k%20=1", 1, "k%20: 1");
  check_headers("=v,bad key=1,b(ad)=2,ok=1", 1, "ok: 1");
  check_headers("x=line%0D%0AInjected: 1,y=%00,z=%7f,ok=tab%09in", 1, "ok: tab\tin");
  check_headers("Content-Type=text/plain,content-encoding=br,Content-Length=1,ok=1", 1, "ok: 1");
  /* appends to what the list holds */
  struct curl_slist *l = curl_slist_append(NULL, "Content-Type: application/json");
  CHECK(otelc__otlp_headers_append("a=1", &l) == 1);
  char *got = joined(l);
  CHECK_STR(got, "Content-Type: application/json|a: 1");
  free(got);
  curl_slist_free_all(l);
}

static void check_gzip_round_trip(const char *in, size_t n) {
  unsigned char *z = NULL;
  size_t zn = 0;
  CHECK(otelc__gzip(in, n, &z, &zn) == OTELC_OK);
  CHECK(z != NULL && zn >= 18); /* 10-byte header + 8-byte trailer at least */
  if (!z) return;
  CHECK(z[0] == 0x1f && z[1] == 0x8b && z[2] == 8); /* gzip magic, deflate */
  /* the trailer's ISIZE is the input length mod 2^32, little endian */
  uint32_t isize = (uint32_t)z[zn - 4] | (uint32_t)z[zn - 3] << 8 | (uint32_t)z[zn - 2] << 16 |
                   (uint32_t)z[zn - 1] << 24;
  CHECK(isize == (uint32_t)n);
  unsigned char *back = malloc(n + 1);
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  CHECK(inflateInit2(&zs, 15 + 16) == Z_OK); /* gzip only, not zlib or raw */
  zs.next_in = z;
  zs.avail_in = (uInt)zn;
  zs.next_out = back;
  zs.avail_out = (uInt)(n + 1);
  CHECK(inflate(&zs, Z_FINISH) == Z_STREAM_END);
  CHECK(zs.total_out == n && zs.avail_in == 0);
  CHECK(memcmp(back, in, n) == 0);
  inflateEnd(&zs);
  free(back);
  free(z);
}

static void test_gzip(void) {
  const char *doc = "{\"resourceSpans\":[{\"resource\":{\"attributes\":[]}}]}";
  check_gzip_round_trip(doc, strlen(doc));
  check_gzip_round_trip("", 0);
  /* large and incompressible: the output can exceed the input */
  size_t n = 1 << 20;
  char *noise = malloc(n);
  otelc__random_bytes(noise, n);
  check_gzip_round_trip(noise, n);
  /* large and repetitive: it must actually compress */
  for (size_t i = 0; i < n; i++) noise[i] = "otlp"[i % 4];
  unsigned char *z = NULL;
  size_t zn = 0;
  CHECK(otelc__gzip(noise, n, &z, &zn) == OTELC_OK && zn < n / 100);
  free(z);
  check_gzip_round_trip(noise, n);
  free(noise);
}

int main(void) {
  test_pct_decode();
  test_headers();
  test_gzip();
  return TEST_RESULT("test_otlp_http");
}

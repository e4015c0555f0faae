/* W3C traceparent / tracestate / baggage parser tests (cases follow the W3C
 * trace-context test harness and the baggage parser tests). */
#include <stdlib.h>

#include "otelc/otelc.h"
#include "testutil.h"

#define TID "12345678901234567890123456789012"
#define SID "1234567890123456"

static int tp(const char *s) {
  otelc_span_context sc;
  return otelc_traceparent_parse(s, strlen(s), &sc);
}

static void test_traceparent(void) {
  otelc_span_context sc;
  CHECK(otelc_traceparent_parse("00-" TID "-" SID "-01", 55, &sc) == OTELC_OK);
  CHECK(sc.trace_flags == 1 && sc.is_remote);
  CHECK(sc.trace_id[0] == 0x12 && sc.trace_id[15] == 0x12 && sc.span_id[7] == 0x56);
  CHECK(tp("00-" TID "-" SID "-00") == OTELC_OK);
  CHECK(tp("00-" TID "-" SID "-03") == OTELC_OK);
  /* OWS around the value */
  CHECK(tp(" \t00-" TID "-" SID "-01 \t") == OTELC_OK);
  /* versions */
  CHECK(tp("ff-" TID "-" SID "-01") != OTELC_OK);
  CHECK(tp("cc-" TID "-" SID "-01") == OTELC_OK);
  CHECK(tp("cc-" TID "-" SID "-01-what-the-future-will-be-like") == OTELC_OK);
  CHECK(tp("cc-" TID "-" SID "-01.what-the-future-will-be-like") != OTELC_OK);
  CHECK(tp("00-" TID "-" SID "-01-") != OTELC_OK);
  CHECK(tp("00-" TID "-" SID "-01.") != OTELC_OK);
  CHECK(tp("00-" TID "-" SID "-01-extra") != OTELC_OK);
  CHECK(tp("0-" TID "-" SID "-01") != OTELC_OK);
  CHECK(tp("000-" TID "-" SID "-01") != OTELC_OK);
  CHECK(tp("0g-" TID "-" SID "-01") != OTELC_OK);
  CHECK(tp("0F-" TID "-" SID "-01") != OTELC_OK);
  /* ids */
  CHECK(tp("00-00000000000000000000000000000000-" SID "-01") != OTELC_OK);
  CHECK(tp("00-" TID "-0000000000000000-01") != OTELC_OK);
  CHECK(tp("00-1234567890123456789012345678901-" SID "-01") != OTELC_OK);
  CHECK(tp("00-123456789012345678901234567890123-" SID "-01") != OTELC_OK);
  CHECK(tp("00-" TID "-123456789012345-01") != OTELC_OK);
  CHECK(tp("00-" TID "-12345678901234567-01") != OTELC_OK);
  CHECK(tp("00-ABCDEF78901234567890123456789012-" SID "-01") != OTELC_OK);
  CHECK(tp("00-" TID "-ABCDEF7890123456-01") != OTELC_OK);
  CHECK(tp("00-1234567890123456789012345678901.-" SID "-01") != OTELC_OK);
  CHECK(tp("00_" TID "-" SID "-01") != OTELC_OK);
  /* flags */
  CHECK(tp("00-" TID "-" SID "-0") != OTELC_OK);
  CHECK(tp("00-" TID "-" SID "-001") != OTELC_OK);
  CHECK(tp("00-" TID "-" SID "-0g") != OTELC_OK);
  CHECK(tp("00-" TID "-" SID "-.1") != OTELC_OK);
  CHECK(tp("") != OTELC_OK);
  CHECK(otelc_traceparent_parse(NULL, 0, &sc) != OTELC_OK);
  /* format */
  char out[OTELC_TRACEPARENT_LEN + 1];
  otelc_traceparent_parse("cc-" TID "-" SID "-ff-x", strlen("cc-" TID "-" SID "-ff-x"), &sc);
  CHECK(otelc_traceparent_format(&sc, out) == OTELC_OK);
  CHECK_STR(out, "00-" TID "-" SID "-03");
  memset(&sc, 0, sizeof sc);
  CHECK(otelc_traceparent_format(&sc, out) != OTELC_OK);
  CHECK_STR(out, "");
}

static otelc_tracestate *ts1(const char *s, int *rc) {
  const char *v[1] = {s};
  size_t l[1] = {strlen(s)};
  otelc_tracestate *out = NULL;
  *rc = otelc_tracestate_parse(v, l, 1, &out);
  return out;
}

static bool ts_ok(const char *s) {
  int rc;
  otelc_tracestate *t = ts1(s, &rc);
  otelc_tracestate_free(t);
  return rc == OTELC_OK && t != NULL;
}

static char *members(int n) {
  char *s = malloc((size_t)n * 12 + 1);
  s[0] = 0;
  for (int i = 1; i <= n; i++) sprintf(s + strlen(s), "%sbar%02d=%02d", i > 1 ? "," : "", i, i);
  return s;
}

static void test_tracestate(void) {
  int rc;
  otelc_tracestate *t = ts1("foo=1, bar=2 ,\tbaz=3\t,,", &rc);
  CHECK(rc == OTELC_OK && otelc_tracestate_count(t) == 3);
  CHECK_STR(otelc_tracestate_find(t, "bar"), "2");
  char *f = otelc_tracestate_format(t);
  CHECK_STR(f, "foo=1,bar=2,baz=3");
  otelc_string_free(f);
  /* set moves to front */
  CHECK(otelc_tracestate_set(t, "baz", "9") == OTELC_OK);
  f = otelc_tracestate_format(t);
  CHECK_STR(f, "baz=9,foo=1,bar=2");
  otelc_string_free(f);
  CHECK(otelc_tracestate_set(t, "BAD", "1") != OTELC_OK);
  otelc_tracestate_free(t);

  /* combined values in order, empty values tolerated */
  const char *v[3] = {"foo=1", "", "bar=2,baz=3"};
  size_t l[3] = {5, 0, 11};
  CHECK(otelc_tracestate_parse(v, l, 3, &t) == OTELC_OK);
  f = otelc_tracestate_format(t);
  CHECK_STR(f, "foo=1,bar=2,baz=3");
  otelc_string_free(f);
  otelc_tracestate_free(t);

  CHECK(ts_ok(""));
  CHECK(ts_ok("foo=1"));
  CHECK(ts_ok("0foo=1"));
  CHECK(ts_ok("foo_-*/=1"));
  CHECK(ts_ok("foo=  bar")); /* leading spaces belong to the value */
  CHECK(ts_ok("foo=bar ,x=1"));
  CHECK(ts_ok("tenant@system=1"));
  CHECK(ts_ok("1tenant@system=1"));
  /* illegal keys */
  CHECK(!ts_ok("FOO=1"));
  CHECK(!ts_ok("foo =1"));
  CHECK(!ts_ok("foo.bar=1"));
  CHECK(!ts_ok("@foo=1,bar=2"));
  CHECK(!ts_ok("foo@=1,bar=2"));
  CHECK(!ts_ok("foo@@bar=1,bar=2"));
  CHECK(!ts_ok("foo@bar@baz=1,bar=2"));
  CHECK(!ts_ok("tenant@1sys=1"));
  CHECK(!ts_ok("_foo=1"));
  /* illegal values */
  CHECK(!ts_ok("foo=bar=baz"));
  CHECK(!ts_ok("foo=,bar=3"));
  CHECK(!ts_ok("foo"));
  CHECK(!ts_ok("foo=1,bar"));
  CHECK(!ts_ok("foo=a\x01" "b"));
  CHECK(!ts_ok("foo=caf\xc3\xa9"));
  /* duplicates */
  CHECK(!ts_ok("foo=1,foo=1"));
  CHECK(!ts_ok("foo=1,bar=2,foo=2"));
  /* member count */
  char *m32 = members(32), *m33 = members(33);
  CHECK(ts_ok(m32));
  CHECK(!ts_ok(m33));
  free(m32);
  free(m33);
  /* key length: 256 ok, 257 not; tenant 241 + system 14 ok, 242 / 15 not */
  char key[600];
  memset(key, 'z', 256);
  strcpy(key + 256, "=1");
  CHECK(ts_ok(key));
  memset(key, 'z', 257);
  strcpy(key + 257, "=1");
  CHECK(!ts_ok(key));
  memset(key, 't', 241);
  key[241] = '@';
  memset(key + 242, 'v', 14);
  strcpy(key + 256, "=1");
  CHECK(ts_ok(key));
  memset(key, 't', 242);
  key[242] = '@';
  memset(key + 243, 'v', 14);
  strcpy(key + 257, "=1");
  CHECK(!ts_ok(key));
  memset(key, 't', 10);
  key[10] = '@';
  memset(key + 11, 'v', 15);
  strcpy(key + 26, "=1");
  CHECK(!ts_ok(key));
  /* value length 256 ok, 257 not */
  strcpy(key, "foo=");
  memset(key + 4, 'v', 256);
  key[260] = 0;
  CHECK(ts_ok(key));
  memset(key + 4, 'v', 257);
  key[261] = 0;
  CHECK(!ts_ok(key));
}

static otelc_baggage *bg(const char *s) {
  const char *v[1] = {s};
  size_t l[1] = {strlen(s)};
  otelc_baggage *b = NULL;
  CHECK(otelc_baggage_parse(v, l, 1, &b) == OTELC_OK);
  return b;
}

static void test_baggage(void) {
  otelc_baggage *b = bg("SomeKey=SomeValue");
  CHECK(otelc_baggage_count(b) == 1);
  CHECK_STR(otelc_baggage_find(b, "SomeKey"), "SomeValue");
  otelc_baggage_free(b);

  b = bg(" k1 = v1 , k2=v2;prop1;p2=x ,k3=%09%20%22%2C%3B%5C%25 ");
  CHECK(otelc_baggage_count(b) == 3);
  CHECK_STR(otelc_baggage_find(b, "k1"), "v1");
  const char *props = NULL;
  otelc_baggage_get(b, 1, NULL, NULL, &props);
  CHECK_STR(props, "prop1;p2=x");
  CHECK_STR(otelc_baggage_find(b, "k3"), "\t \",;\\%");
  char *f = otelc_baggage_format(b);
  CHECK_STR(f, "k1=v1,k2=v2;prop1;p2=x,k3=%09%20%22%2C%3B%5C%25");
  otelc_string_free(f);
  otelc_baggage_free(b);

  /* invalid members are skipped whole */
  b = bg("good=1,bad key=2,noeq,k=%zz,ok=2");
  CHECK(otelc_baggage_count(b) == 2);
  CHECK_STR(otelc_baggage_find(b, "ok"), "2");
  otelc_baggage_free(b);

  /* multiple headers combine */
  const char *v[2] = {"a=1", "b=2"};
  size_t l[2] = {3, 3};
  CHECK(otelc_baggage_parse(v, l, 2, &b) == OTELC_OK);
  CHECK(otelc_baggage_count(b) == 2);
  otelc_baggage_free(b);

  /* 64 members kept, 65th dropped */
  char big[2000] = "";
  for (int i = 0; i < 65; i++) sprintf(big + strlen(big), "%sk%d=v", i ? "," : "", i);
  b = bg(big);
  CHECK(otelc_baggage_count(b) == 64);
  otelc_baggage_free(b);

  /* byte limit: a member that would cross 8192 bytes is dropped whole */
  char *huge = malloc(9000);
  strcpy(huge, "a=");
  memset(huge + 2, 'x', 8000);
  strcpy(huge + 8002, ",b=");
  memset(huge + 8005, 'y', 300);
  huge[8305] = 0;
  b = bg(huge);
  CHECK(otelc_baggage_count(b) == 1);
  CHECK(otelc_baggage_find(b, "b") == NULL);
  otelc_baggage_free(b);
  free(huge);
}

static void set_hdr(void *carrier, const char *k, const char *v) {
  char *buf = carrier;
  sprintf(buf + strlen(buf), "%s: %s\n", k, v);
}

static void test_extract_inject(void) {
  otelc_header h[] = {
      {"TraceParent", 11, "00-" TID "-" SID "-01", 55},
      {"tracestate", 10, "foo=1", 5},
      {"tracestate", 10, "bar=2", 5},
      {"baggage", 7, "k=v", 3},
  };
  otelc_span_context sc;
  otelc_tracestate *ts;
  otelc_baggage *b;
  CHECK(otelc_extract(3, h, 4, &sc, &ts, &b) == OTELC_OK);
  CHECK(otelc_span_context_is_valid(&sc) && ts && b);
  CHECK(otelc_tracestate_count(ts) == 2);
  char buf[512] = "";
  CHECK(otelc_inject(3, &sc, ts, b, set_hdr, buf) == 3);
  CHECK_STR(buf, "traceparent: 00-" TID "-" SID "-01\ntracestate: foo=1,bar=2\nbaggage: k=v\n");
  otelc_tracestate_free(ts);
  otelc_baggage_free(b);

  /* two traceparent values: invalid, tracestate ignored */
  otelc_header h2[] = {
      {"traceparent", 11, "00-" TID "-" SID "-01", 55},
      {"traceparent", 11, "00-" TID "-" SID "-01", 55},
      {"tracestate", 10, "foo=1", 5},
  };
  CHECK(otelc_extract(3, h2, 3, &sc, &ts, &b) != OTELC_OK);
  CHECK(!otelc_span_context_is_valid(&sc) && ts == NULL && b == NULL);
  /* invalid tracestate with valid traceparent: trace continues, state dropped */
  otelc_header h3[] = {{"traceparent", 11, "00-" TID "-" SID "-01", 55},
                       {"tracestate", 10, "FOO=1", 5}};
  CHECK(otelc_extract(3, h3, 2, &sc, &ts, NULL) == OTELC_OK && ts == NULL);
  /* wrong header name ignored */
  otelc_header h4[] = {{"traceparent", 11, "00-" TID "-" SID "-01", 55},
                       {"trace-state", 11, "foo=1", 5}};
  CHECK(otelc_extract(3, h4, 2, &sc, &ts, NULL) == OTELC_OK && otelc_tracestate_count(ts) == 0);
  otelc_tracestate_free(ts);
  /* propagators mask: baggage only */
  CHECK(otelc_extract(OTELC_PROPAGATOR_BAGGAGE, h, 4, &sc, &ts, &b) != OTELC_OK);
  CHECK(b && otelc_baggage_count(b) == 1 && ts == NULL);
  otelc_baggage_free(b);
}

int main(void) {
  test_traceparent();
  test_tracestate();
  test_baggage();
  test_extract_inject();
  return TEST_RESULT("test_propagation");
}

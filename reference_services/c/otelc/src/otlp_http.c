/* OTLP/HTTP transport: one POST with the retry rules of the OTLP spec
 * (429/502/503/504 and connection errors, exponential backoff with jitter,
 * Retry-After), bounded by the export timeout. */
#include <errno.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>

#include "internal.h"

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

bool otelc__http_post(CURL *c, const char *headers, uint32_t timeout_ms, const char *url,
                      const char *body) {
  if (!c) return false;
  struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
  if (headers) { /* k=v,k2=v2 */
    char *copy = otelc__strdup(headers), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
      char *eq = strchr(tok, '=');
      if (!eq) continue;
      *eq = 0;
      char line[1024];
      snprintf(line, sizeof line, "%s: %s", tok, eq + 1);
      hdrs = curl_slist_append(hdrs, line);
    }
    free(copy);
  }
  uint64_t deadline = otelc__mono_ms() + timeout_ms;
  uint64_t backoff = 100;
  bool ok = false;
  for (int attempt = 0; attempt < 5; attempt++) {
    hdr_state hs = {-1};
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
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
  curl_slist_free_all(hdrs);
  return ok;
}

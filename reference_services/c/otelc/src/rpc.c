/* gRPC instrumentation helpers, semconv profile "seed". */
#include <stdio.h>
#include <time.h>

#include "internal.h"

struct otelc_rpc_call {
  otelc_sdk *sdk;
  otelc_span *span;
  otelc_baggage *baggage;
  otelc_span_kind kind;
  char service[256], method[256];
  char server_address[256];
  int server_port;
  uint64_t start_mono_ns;
};

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void copy_trunc(char *dst, size_t size, const char *src, size_t n) {
  if (!size) return;
  if (n >= size) n = size - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
}

int otelc_rpc_split_method(const char *full, char *service, size_t ssz, char *method,
                           size_t msz) {
  if (ssz) service[0] = '\0';
  if (msz) method[0] = '\0';
  if (!full) return OTELC_ERR_INVALID;
  if (*full == '/') full++;
  const char *slash = strrchr(full, '/');
  if (!slash || slash == full || !slash[1]) return OTELC_ERR_INVALID;
  copy_trunc(service, ssz, full, (size_t)(slash - full));
  copy_trunc(method, msz, slash + 1, strlen(slash + 1));
  return OTELC_OK;
}

bool otelc_rpc_status_is_error(otelc_span_kind kind, int code) {
  if (code == 0) return false;
  if (kind != OTELC_SPAN_KIND_SERVER) return true;
  switch (code) {
  case 2:  /* UNKNOWN */
  case 4:  /* DEADLINE_EXCEEDED */
  case 12: /* UNIMPLEMENTED */
  case 13: /* INTERNAL */
  case 14: /* UNAVAILABLE */
  case 15: /* DATA_LOSS */
    return true;
  default:
    return false;
  }
}

static otelc_rpc_call *call_start(otelc_sdk *sdk, otelc_span_kind kind, const char *full_method,
                                  const otelc_span_context *parent, const otelc_tracestate *ts) {
  otelc_rpc_call *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->sdk = sdk;
  c->kind = kind;
  c->start_mono_ns = mono_ns();
  if (otelc_rpc_split_method(full_method, c->service, sizeof c->service, c->method,
                             sizeof c->method) != OTELC_OK) {
    copy_trunc(c->service, sizeof c->service, "", 0);
    copy_trunc(c->method, sizeof c->method, full_method ? full_method : "",
               full_method ? strlen(full_method) : 0);
  }
  char name[520];
  if (c->service[0]) snprintf(name, sizeof name, "%s/%s", c->service, c->method);
  else snprintf(name, sizeof name, "%s", c->method);
  c->span = otelc_span_start(sdk, name, kind, parent, ts);
  if (!c->span) {
    free(c);
    return NULL;
  }
  otelc_span_set_attr_str(c->span, "rpc.system", "grpc");
  if (c->service[0]) otelc_span_set_attr_str(c->span, "rpc.service", c->service);
  otelc_span_set_attr_str(c->span, "rpc.method", c->method);
  return c;
}

otelc_rpc_call *otelc_rpc_server_start(otelc_sdk *sdk, const char *full_method,
                                       const otelc_header *md, size_t n) {
  otelc_span_context parent;
  otelc_tracestate *ts = NULL;
  otelc_baggage *bg = NULL;
  otelc_extract(otelc_sdk_propagators(sdk), md, n, &parent, &ts, &bg);
  otelc_rpc_call *c = call_start(sdk, OTELC_SPAN_KIND_SERVER, full_method, &parent, ts);
  otelc_tracestate_free(ts);
  if (!c) {
    otelc_baggage_free(bg);
    return NULL;
  }
  c->baggage = bg ? bg : otelc_baggage_new();
  return c;
}

/* Parses "host:port", "[v6]:port", "dns:///host:port", "ipv4:host:port". */
static void parse_target(const char *t, char *host, size_t hsz, int *port) {
  *port = -1;
  host[0] = '\0';
  if (!t) return;
  if (!strncmp(t, "dns:///", 7)) t += 7;
  else if (!strncmp(t, "dns:", 4)) t += 4;
  else if (!strncmp(t, "ipv4:", 5)) t += 5;
  else if (!strncmp(t, "ipv6:", 5)) t += 5;
  const char *colon;
  if (*t == '[') {
    const char *rb = strchr(t, ']');
    if (!rb) {
      copy_trunc(host, hsz, t, strlen(t));
      return;
    }
    copy_trunc(host, hsz, t + 1, (size_t)(rb - t - 1));
    colon = rb[1] == ':' ? rb + 1 : NULL;
  } else {
    colon = strrchr(t, ':');
    copy_trunc(host, hsz, t, colon ? (size_t)(colon - t) : strlen(t));
  }
  if (colon && colon[1]) {
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (!*end && p > 0 && p < 65536) *port = (int)p;
  }
}

otelc_rpc_call *otelc_rpc_client_start(otelc_sdk *sdk, const otelc_rpc_call *parent_call,
                                       const char *full_method, const char *target) {
  otelc_span_context parent;
  memset(&parent, 0, sizeof parent);
  const otelc_tracestate *ts = NULL;
  if (parent_call) {
    otelc_span_get_context(parent_call->span, &parent);
    ts = otelc_span_tracestate(parent_call->span);
  }
  otelc_rpc_call *c = call_start(sdk, OTELC_SPAN_KIND_CLIENT, full_method, &parent, ts);
  if (!c) return NULL;
  c->baggage = otelc_baggage_dup(parent_call ? parent_call->baggage : NULL);
  parse_target(target, c->server_address, sizeof c->server_address, &c->server_port);
  if (c->server_address[0]) otelc_span_set_attr_str(c->span, "server.address", c->server_address);
  if (c->server_port > 0) otelc_span_set_attr_int(c->span, "server.port", c->server_port);
  return c;
}

int otelc_rpc_inject(const otelc_rpc_call *c, otelc_header_setter set, void *carrier) {
  otelc_span_context sc;
  otelc_span_get_context(c->span, &sc);
  return otelc_inject(otelc_sdk_propagators(c->sdk), &sc, otelc_span_tracestate(c->span),
                      c->baggage, set, carrier);
}

otelc_span *otelc_rpc_call_span(otelc_rpc_call *c) { return c->span; }
const otelc_baggage *otelc_rpc_call_baggage(const otelc_rpc_call *c) { return c->baggage; }
void otelc_rpc_call_context(const otelc_rpc_call *c, otelc_span_context *out) {
  otelc_span_get_context(c->span, out);
}

static otelc_histogram *duration_histogram(otelc_sdk *sdk, otelc_span_kind kind) {
  if (kind == OTELC_SPAN_KIND_SERVER)
    return otelc_histogram_new(sdk, "rpc.server.duration",
                               "Measures the duration of inbound RPC.", "ms", NULL, 0);
  return otelc_histogram_new(sdk, "rpc.client.duration", "Measures the duration of outbound RPC.",
                             "ms", NULL, 0);
}

void otelc_rpc_finish(otelc_rpc_call *c, int code, const char *message) {
  if (!c) return;
  double ms = (double)(mono_ns() - c->start_mono_ns) / 1e6;
  otelc_span_set_attr_int(c->span, "rpc.grpc.status_code", code);
  if (otelc_rpc_status_is_error(c->kind, code))
    otelc_span_set_status(c->span, OTELC_STATUS_ERROR, message ? message : "");
  otelc_span_end(c->span);
  c->span = NULL;
  otelc_histogram *h = duration_histogram(c->sdk, c->kind);
  otelc_attributes *a = otelc_attributes_new();
  if (h && a) {
    otelc_attributes_set_str(a, "rpc.system", "grpc");
    if (c->service[0]) otelc_attributes_set_str(a, "rpc.service", c->service);
    otelc_attributes_set_str(a, "rpc.method", c->method);
    otelc_attributes_set_int(a, "rpc.grpc.status_code", code);
    if (c->kind == OTELC_SPAN_KIND_CLIENT) {
      if (c->server_address[0]) otelc_attributes_set_str(a, "server.address", c->server_address);
      if (c->server_port > 0) otelc_attributes_set_int(a, "server.port", c->server_port);
    }
    otelc_histogram_record(h, ms, a);
  }
  otelc_attributes_free(a);
  otelc_rpc_call_free(c);
}

void otelc_rpc_call_free(otelc_rpc_call *c) {
  if (!c) return;
  otelc_span_free(c->span);
  otelc_baggage_free(c->baggage);
  free(c);
}

/* C reference service for the conformance suite.
 *
 * Serves conformance.v1.Conformance (Echo, Fail, Relay, Log, Sleep,
 * StreamEcho, Chain) and grpc.health.v1.Health/Check on 127.0.0.1:$PORT with
 * gRPC C-core. Every Conformance call is traced by otelc's gRPC helpers (server
 * span, context extracted from metadata); the outgoing calls of Relay and Chain
 * (downstream.h) get client spans and carry injected traceparent / tracestate /
 * baggage. Telemetry goes out as OTLP/HTTP JSON. SIGTERM: stop accepting calls,
 * finish in-flight calls, flush all signals, exit 0.
 *
 * Threading: the main thread accepts calls; each accepted call is handled
 * synchronously on its own thread with its own completion queue.
 */
#include <errno.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain.h"
#include "conformance_v1.pb-c.h"
#include "downstream.h"
#include "grpcx.h"
#include "otelc/otelc.h"

#define SERVICE_VERSION "0.1.0"
#define CONFORMANCE_PREFIX "/conformance.v1.Conformance/"
#define HEALTH_CHECK "/grpc.health.v1.Health/Check"

static otelc_sdk *g_sdk;
static grpc_server *g_server;
static volatile sig_atomic_t g_stop;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_active;

/* tags used on a call's own completion queue */
static char TAG_CLOSE, TAG_RECV, TAG_SEND;

typedef struct call_ctx {
  grpc_call *call;
  grpc_call_details details;
  grpc_metadata_array md;
  grpc_completion_queue *cq;
  int cancelled;   /* from RECV_CLOSE_ON_SERVER */
  bool closed;     /* TAG_CLOSE completed */
} call_ctx;

typedef struct reply {
  grpc_status_code code;
  char *message;          /* status details, malloc'd or NULL */
  ProtobufCMessage *msg;  /* unary response (owned, freed with free_fn) */
  uint8_t *raw;           /* raw response bytes (health) */
  size_t raw_len;
} reply;

/* ------------------------------------------------------------------ */
/* small helpers                                                       */

/* Waits for `tag` on the call's queue until `deadline`; notes TAG_CLOSE on
 * the way. Returns 1 on success, 0 on failed op, -1 on timeout. */
static int wait_tag(call_ctx *c, void *tag, gpr_timespec deadline) {
  if (tag == &TAG_CLOSE && c->closed) return 1;
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(c->cq, deadline, NULL);
    if (ev.type == GRPC_QUEUE_TIMEOUT) return -1;
    if (ev.type != GRPC_OP_COMPLETE) return 0;
    if (ev.tag == &TAG_CLOSE) c->closed = true;
    if (ev.tag == tag) return ev.success ? 1 : 0;
  }
}

static char *xstrdup(const char *s) { return strdup(s ? s : ""); }

static void set_reply(reply *r, grpc_status_code code, const char *msg) {
  r->code = code;
  free(r->message);
  r->message = msg ? xstrdup(msg) : NULL;
}

/* Sends initial metadata (optional), message (optional) and status. */
static bool send_unary(call_ctx *c, grpc_byte_buffer *resp, grpc_status_code code,
                       const char *message, bool with_initial_md) {
  grpc_op ops[3];
  size_t n = 0;
  memset(ops, 0, sizeof ops);
  if (with_initial_md) {
    ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[n].data.send_initial_metadata.count = 0;
    n++;
  }
  if (resp && code == GRPC_STATUS_OK) {
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n].data.send_message.send_message = resp;
    n++;
  }
  grpc_slice details = grpc_slice_from_copied_string(message ? message : "");
  ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  ops[n].data.send_status_from_server.status = code;
  ops[n].data.send_status_from_server.status_details = message && *message ? &details : NULL;
  ops[n].data.send_status_from_server.trailing_metadata_count = 0;
  n++;
  bool ok = false;
  if (grpc_call_start_batch(c->call, ops, n, &TAG_SEND, NULL) == GRPC_CALL_OK)
    ok = wait_tag(c, &TAG_SEND, gpr_inf_future(GPR_CLOCK_MONOTONIC)) == 1;
  grpc_slice_unref(details);
  return ok;
}

/* ------------------------------------------------------------------ */
/* handlers                                                            */

static void do_echo(const uint8_t *in, size_t len, reply *r) {
  Conformance__V1__EchoRequest *req = conformance__v1__echo_request__unpack(NULL, len, in);
  if (!req) return set_reply(r, GRPC_STATUS_INVALID_ARGUMENT, "bad EchoRequest");
  Conformance__V1__EchoResponse *resp = calloc(1, sizeof *resp);
  conformance__v1__echo_response__init(resp);
  resp->payload = xstrdup(req->payload);
  r->msg = &resp->base;
  conformance__v1__echo_request__free_unpacked(req, NULL);
}

static void do_fail(const uint8_t *in, size_t len, reply *r) {
  Conformance__V1__FailRequest *req = conformance__v1__fail_request__unpack(NULL, len, in);
  if (!req) return set_reply(r, GRPC_STATUS_INVALID_ARGUMENT, "bad FailRequest");
  uint32_t code = req->code;
  if (code > 16) code = GRPC_STATUS_UNKNOWN;
  set_reply(r, (grpc_status_code)code, req->message);
  if (code == 0) {
    Conformance__V1__FailResponse *resp = calloc(1, sizeof *resp);
    conformance__v1__fail_response__init(resp);
    r->msg = &resp->base;
  }
  conformance__v1__fail_request__free_unpacked(req, NULL);
}

static void do_log(const uint8_t *in, size_t len, reply *r, otelc_rpc_call *rc) {
  Conformance__V1__LogRequest *req = conformance__v1__log_request__unpack(NULL, len, in);
  if (!req) return set_reply(r, GRPC_STATUS_INVALID_ARGUMENT, "bad LogRequest");
  otelc_attributes *attrs = otelc_attributes_new();
  for (size_t i = 0; i < req->n_attributes; i++)
    otelc_attributes_set_str(attrs, req->attributes[i]->key, req->attributes[i]->value);
  otelc_span_context sc;
  otelc_rpc_call_context(rc, &sc);
  otelc_log_emit(g_sdk, (int)req->severity, req->message, attrs, &sc);
  otelc_attributes_free(attrs);
  Conformance__V1__LogResponse *resp = calloc(1, sizeof *resp);
  conformance__v1__log_response__init(resp);
  r->msg = &resp->base;
  conformance__v1__log_request__free_unpacked(req, NULL);
}

static void do_sleep(call_ctx *c, const uint8_t *in, size_t len, reply *r) {
  Conformance__V1__SleepRequest *req = conformance__v1__sleep_request__unpack(NULL, len, in);
  if (!req) return set_reply(r, GRPC_STATUS_INVALID_ARGUMENT, "bad SleepRequest");
  gpr_timespec until = grpcx_ms_from_now(req->duration_ms);
  gpr_timespec call_deadline = gpr_convert_clock_type(c->details.deadline, GPR_CLOCK_MONOTONIC);
  bool deadline_first = gpr_time_cmp(call_deadline, until) < 0;
  if (deadline_first) until = call_deadline;
  conformance__v1__sleep_request__free_unpacked(req, NULL);
  int w = wait_tag(c, &TAG_CLOSE, until);
  bool deadline_passed =
      gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), call_deadline) >= 0;
  if (w == 1 || c->closed) { /* the call ended early: cancelled or deadline */
    return set_reply(r, deadline_passed ? GRPC_STATUS_DEADLINE_EXCEEDED : GRPC_STATUS_CANCELLED,
                     deadline_passed ? "Deadline Exceeded" : "Cancelled");
  }
  if (deadline_first && deadline_passed)
    return set_reply(r, GRPC_STATUS_DEADLINE_EXCEEDED, "Deadline Exceeded");
  Conformance__V1__SleepResponse *resp = calloc(1, sizeof *resp);
  conformance__v1__sleep_response__init(resp);
  r->msg = &resp->base;
}

static void do_relay(call_ctx *c, const uint8_t *in, size_t len, reply *r, otelc_rpc_call *rc) {
  Conformance__V1__RelayRequest *req = conformance__v1__relay_request__unpack(NULL, len, in);
  if (!req) return set_reply(r, GRPC_STATUS_INVALID_ARGUMENT, "bad RelayRequest");
  if (!req->downstream || !*req->downstream) {
    conformance__v1__relay_request__free_unpacked(req, NULL);
    return set_reply(r, GRPC_STATUS_INVALID_ARGUMENT, "downstream is empty");
  }
  uint32_t calls = req->calls ? req->calls : 1;
  Conformance__V1__RelayResponse *resp = calloc(1, sizeof *resp);
  conformance__v1__relay_response__init(resp);
  resp->payloads = calloc(calls, sizeof(char *));
  Conformance__V1__EchoRequest echo = CONFORMANCE__V1__ECHO_REQUEST__INIT;
  echo.payload = req->payload;
  downstream *d = downstream_new(g_sdk, req->downstream);
  grpc_status_code st = d ? GRPC_STATUS_OK : GRPC_STATUS_RESOURCE_EXHAUSTED;
  if (!d) set_reply(r, st, "out of memory");
  for (uint32_t i = 0; d && i < calls; i++) {
    ProtobufCMessage *got = NULL;
    char *msg = NULL;
    st = downstream_call(d, c->call, rc, CONFORMANCE_PREFIX "Echo", &echo.base,
                         &conformance__v1__echo_response__descriptor, &got, &msg);
    if (st != GRPC_STATUS_OK) {
      set_reply(r, st, msg);
      free(msg);
      break;
    }
    resp->payloads[resp->n_payloads++] = xstrdup(((Conformance__V1__EchoResponse *)got)->payload);
    protobuf_c_message_free_unpacked(got, NULL);
    free(msg);
  }
  downstream_free(d);
  conformance__v1__relay_request__free_unpacked(req, NULL);
  if (st == GRPC_STATUS_OK) r->msg = &resp->base;
  else conformance__v1__relay_response__free_unpacked(resp, NULL);
}

static void do_chain(call_ctx *c, const uint8_t *in, size_t len, reply *r, otelc_rpc_call *rc) {
  char *msg = NULL;
  grpc_status_code code = chain_handle(g_sdk, c->call, rc, in, len, &r->msg, &msg);
  set_reply(r, code, msg);
  free(msg);
}

/* Server streaming: sends `count` responses then the status. */
static void do_stream(call_ctx *c, const uint8_t *in, size_t len, reply *r) {
  Conformance__V1__StreamEchoRequest *req =
      conformance__v1__stream_echo_request__unpack(NULL, len, in);
  if (!req) return set_reply(r, GRPC_STATUS_INVALID_ARGUMENT, "bad StreamEchoRequest");
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_SEND_INITIAL_METADATA;
  bool ok = grpc_call_start_batch(c->call, &op, 1, &TAG_SEND, NULL) == GRPC_CALL_OK &&
            wait_tag(c, &TAG_SEND, gpr_inf_future(GPR_CLOCK_MONOTONIC)) == 1;
  Conformance__V1__EchoResponse resp = CONFORMANCE__V1__ECHO_RESPONSE__INIT;
  resp.payload = req->payload;
  for (uint32_t i = 0; ok && i < req->count; i++) {
    grpc_byte_buffer *bb = grpcx_bb_pack(&resp.base);
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = bb;
    ok = grpc_call_start_batch(c->call, &op, 1, &TAG_SEND, NULL) == GRPC_CALL_OK &&
         wait_tag(c, &TAG_SEND, gpr_inf_future(GPR_CLOCK_MONOTONIC)) == 1;
    grpc_byte_buffer_destroy(bb);
  }
  conformance__v1__stream_echo_request__free_unpacked(req, NULL);
  if (!ok) set_reply(r, GRPC_STATUS_CANCELLED, "Cancelled");
}

/* grpc.health.v1.HealthCheckRequest{string service = 1}: SERVING (1) for ""
 * and for conformance.v1.Conformance, NOT_FOUND otherwise. */
static void do_health(const uint8_t *in, size_t len, reply *r) {
  const char *svc = "";
  size_t svc_len = 0;
  if (len >= 2 && in[0] == 0x0a && in[1] < 0x80 && (size_t)in[1] + 2 <= len) {
    svc = (const char *)in + 2;
    svc_len = in[1];
  }
  bool known = svc_len == 0 || (svc_len == 26 && !memcmp(svc, "conformance.v1.Conformance", 26));
  if (!known) return set_reply(r, GRPC_STATUS_NOT_FOUND, "unknown service");
  static const uint8_t serving[] = {0x08, 0x01};
  r->raw = malloc(sizeof serving);
  memcpy(r->raw, serving, sizeof serving);
  r->raw_len = sizeof serving;
}

static void handle_call(call_ctx *c) {
  char *method = grpc_slice_to_c_string(c->details.method);
  bool conformance = strncmp(method, CONFORMANCE_PREFIX, strlen(CONFORMANCE_PREFIX)) == 0;
  const char *name = method + (conformance ? strlen(CONFORMANCE_PREFIX) : 0);

  /* Server span first, from the incoming metadata. */
  otelc_rpc_call *rc = NULL;
  if (conformance) {
    otelc_header hs[64];
    size_t nh = 0;
    for (size_t i = 0; i < c->md.count && nh < 64; i++) {
      hs[nh].key = (const char *)GRPC_SLICE_START_PTR(c->md.metadata[i].key);
      hs[nh].key_len = GRPC_SLICE_LENGTH(c->md.metadata[i].key);
      hs[nh].value = (const char *)GRPC_SLICE_START_PTR(c->md.metadata[i].value);
      hs[nh].value_len = GRPC_SLICE_LENGTH(c->md.metadata[i].value);
      nh++;
    }
    rc = otelc_rpc_server_start(g_sdk, method, hs, nh);
  }

  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  op.data.recv_close_on_server.cancelled = &c->cancelled;
  grpc_call_start_batch(c->call, &op, 1, &TAG_CLOSE, NULL);

  grpc_byte_buffer *req_bb = NULL;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &req_bb;
  reply r = {.code = GRPC_STATUS_OK};
  size_t len = 0;
  uint8_t *in = NULL;
  if (grpc_call_start_batch(c->call, &op, 1, &TAG_RECV, NULL) != GRPC_CALL_OK ||
      wait_tag(c, &TAG_RECV, gpr_inf_future(GPR_CLOCK_MONOTONIC)) != 1) {
    set_reply(&r, GRPC_STATUS_CANCELLED, "Cancelled");
  } else {
    in = grpcx_bb_read(req_bb, &len);
    if (!in) set_reply(&r, GRPC_STATUS_INTERNAL, "cannot read request");
  }
  if (req_bb) grpc_byte_buffer_destroy(req_bb);

  bool streamed = false;
  if (in) {
    if (!strcmp(method, HEALTH_CHECK)) do_health(in, len, &r);
    else if (!conformance) set_reply(&r, GRPC_STATUS_UNIMPLEMENTED, "unknown method");
    else if (!strcmp(name, "Echo")) do_echo(in, len, &r);
    else if (!strcmp(name, "Fail")) do_fail(in, len, &r);
    else if (!strcmp(name, "Relay")) do_relay(c, in, len, &r, rc);
    else if (!strcmp(name, "Log")) do_log(in, len, &r, rc);
    else if (!strcmp(name, "Sleep")) do_sleep(c, in, len, &r);
    else if (!strcmp(name, "Chain")) do_chain(c, in, len, &r, rc);
    else if (!strcmp(name, "StreamEcho")) {
      do_stream(c, in, len, &r);
      streamed = true;
    } else set_reply(&r, GRPC_STATUS_UNIMPLEMENTED, "unknown method");
  }

  grpc_byte_buffer *resp_bb = NULL;
  if (r.code == GRPC_STATUS_OK) {
    if (r.msg) resp_bb = grpcx_bb_pack(r.msg);
    else if (r.raw) resp_bb = grpcx_bb_from(r.raw, r.raw_len);
  }
  send_unary(c, resp_bb, r.code, r.message, !streamed);
  wait_tag(c, &TAG_CLOSE, grpcx_ms_from_now(5000));
  /* A call the client cancelled after we answered still ends as sent. */
  if (rc) otelc_rpc_finish(rc, (int)r.code, r.message);

  if (resp_bb) grpc_byte_buffer_destroy(resp_bb);
  if (r.msg) protobuf_c_message_free_unpacked(r.msg, NULL);
  free(r.raw);
  free(r.message);
  free(in);
  gpr_free(method);
}

static void *call_thread(void *arg) {
  call_ctx *c = arg;
  handle_call(c);
  grpc_call_unref(c->call);
  grpc_call_details_destroy(&c->details);
  grpc_metadata_array_destroy(&c->md);
  grpcx_cq_drain_destroy(c->cq);
  free(c);
  pthread_mutex_lock(&g_mu);
  g_active--;
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
  return NULL;
}

/* ------------------------------------------------------------------ */
/* main loop                                                           */

static call_ctx *request_call(grpc_completion_queue *server_cq) {
  call_ctx *c = calloc(1, sizeof *c);
  grpc_call_details_init(&c->details);
  grpc_metadata_array_init(&c->md);
  c->cq = grpc_completion_queue_create_for_next(NULL);
  if (grpc_server_request_call(g_server, &c->call, &c->details, &c->md, c->cq, server_cq, c) !=
      GRPC_CALL_OK) {
    fprintf(stderr, "c-service: grpc_server_request_call failed\n");
    exit(1);
  }
  return c;
}

static void free_unused(call_ctx *c) {
  grpc_call_details_destroy(&c->details);
  grpc_metadata_array_destroy(&c->md);
  grpcx_cq_drain_destroy(c->cq);
  free(c);
}

static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

int main(int argc, char **argv) {
  const char *port = getenv("PORT");
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--port") && i + 1 < argc) port = argv[++i];
    else if (!strncmp(argv[i], "--port=", 7)) port = argv[i] + 7;
  }
  if (!port || !*port) port = "50051";

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, NULL, _IOLBF, 0);

  g_sdk = otelc_sdk_new_from_env(SERVICE_VERSION);
  if (!g_sdk) {
    fprintf(stderr, "c-service: cannot create telemetry SDK\n");
    return 1;
  }
  /* The RPC metrics alone cannot tell saturation (CPU, memory) from slowness. */
  if (otelc_process_metrics_register(g_sdk) != OTELC_OK)
    fprintf(stderr, "c-service: process metrics not registered\n");
  grpc_init();
  /* C-core's default 8 KiB limit on request metadata is below W3C Baggage's 8,192 bytes
   * plus the rest of a request's headers. */
  grpc_arg metadata_limit = {.type = GRPC_ARG_INTEGER,
                             .key = GRPC_ARG_MAX_METADATA_SIZE,
                             .value.integer = 64 * 1024};
  grpc_channel_args server_args = {.num_args = 1, .args = &metadata_limit};
  g_server = grpc_server_create(&server_args, NULL);
  grpc_completion_queue *server_cq = grpc_completion_queue_create_for_next(NULL);
  grpc_server_register_completion_queue(g_server, server_cq, NULL);
  char addr[128];
  snprintf(addr, sizeof addr, "127.0.0.1:%s", port);
  grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
  int bound = grpc_server_add_http2_port(g_server, addr, creds);
  grpc_server_credentials_release(creds);
  if (!bound) {
    fprintf(stderr, "c-service: cannot bind %s\n", addr);
    return 1;
  }
  grpc_server_start(g_server);
  fprintf(stderr, "c-service: serving on %s (service.name=%s)\n", addr,
          otelc_sdk_service_name(g_sdk));

  call_ctx *pending = request_call(server_cq);
  while (!g_stop) {
    grpc_event ev = grpc_completion_queue_next(server_cq, grpcx_ms_from_now(100), NULL);
    if (ev.type != GRPC_OP_COMPLETE) continue;
    call_ctx *c = ev.tag;
    if (c != pending) continue;
    if (!ev.success) {
      free_unused(c);
      pending = request_call(server_cq);
      continue;
    }
    pending = request_call(server_cq);
    pthread_mutex_lock(&g_mu);
    g_active++;
    pthread_mutex_unlock(&g_mu);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, call_thread, c) != 0) call_thread(c);
    pthread_attr_destroy(&attr);
  }

  /* Graceful stop: no new calls, let in-flight calls finish (cancel after 5 s). */
  fprintf(stderr, "c-service: shutting down\n");
  static char shutdown_tag;
  grpc_server_shutdown_and_notify(g_server, server_cq, &shutdown_tag);
  gpr_timespec cancel_at = grpcx_ms_from_now(5000);
  bool cancelled = false, done = false;
  while (!done) {
    grpc_event ev = grpc_completion_queue_next(server_cq, grpcx_ms_from_now(100), NULL);
    if (ev.type == GRPC_OP_COMPLETE) {
      if (ev.tag == &shutdown_tag) done = true;
      else if (ev.tag == pending) {
        free_unused(pending);
        pending = NULL;
      }
    }
    if (!cancelled && gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), cancel_at) > 0) {
      grpc_server_cancel_all_calls(g_server);
      cancelled = true;
    }
  }
  pthread_mutex_lock(&g_mu);
  while (g_active > 0) pthread_cond_wait(&g_cv, &g_mu);
  pthread_mutex_unlock(&g_mu);
  grpc_server_destroy(g_server);
  grpcx_cq_drain_destroy(server_cq);
  if (pending) free_unused(pending);
  otelc_sdk_free(g_sdk); /* force flush of traces, metrics and logs */
  grpc_shutdown();
  fprintf(stderr, "c-service: stopped\n");
  return 0;
}

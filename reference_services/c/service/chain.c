/* Chain of chain.h. The next hop is called through downstream.h, the same
 * instrumented client path as Relay, so both propagate context the same way. */
#include "chain.h"

#include <stdlib.h>
#include <string.h>

#include "conformance_v1.pb-c.h"
#include "downstream.h"

#define CHAIN_PREFIX "/conformance.v1.Conformance/"

/* Answers OK with `payload` (copied). */
static grpc_status_code answer(const char *payload, ProtobufCMessage **out_resp,
                               char **out_msg) {
  Conformance__V1__ChainResponse *resp = calloc(1, sizeof *resp);
  char *p = strdup(payload ? payload : "");
  if (!resp || !p) {
    free(resp);
    free(p);
    *out_msg = strdup("out of memory");
    return GRPC_STATUS_RESOURCE_EXHAUSTED;
  }
  conformance__v1__chain_response__init(resp);
  resp->payload = p;
  *out_resp = &resp->base;
  return GRPC_STATUS_OK;
}

/* Calls next[0]: the last hop is the suite's downstream, which only knows
 * Echo; any other hop gets the rest of the chain. */
static grpc_status_code call_next(otelc_sdk *sdk, grpc_call *call, otelc_rpc_call *rc,
                                  const Conformance__V1__ChainRequest *req,
                                  ProtobufCMessage **out_resp, char **out_msg) {
  const Conformance__V1__Hop *hop = req->next[0];
  if (!hop->address || !*hop->address) {
    *out_msg = strdup("next[0].address is empty");
    return GRPC_STATUS_INVALID_ARGUMENT;
  }
  bool last = req->n_next == 1;
  Conformance__V1__EchoRequest echo = CONFORMANCE__V1__ECHO_REQUEST__INIT;
  echo.payload = req->payload;
  Conformance__V1__ChainRequest rest = CONFORMANCE__V1__CHAIN_REQUEST__INIT;
  rest.payload = req->payload;
  rest.fail_code = hop->fail_code;
  rest.log_message = hop->log_message;
  rest.n_next = req->n_next - 1;
  rest.next = req->next + 1;

  downstream *d = downstream_new(sdk, hop->address);
  if (!d) {
    *out_msg = strdup("out of memory");
    return GRPC_STATUS_RESOURCE_EXHAUSTED;
  }
  ProtobufCMessage *got = NULL;
  char *msg = NULL;
  grpc_status_code st =
      last ? downstream_call(d, call, rc, CHAIN_PREFIX "Echo", &echo.base,
                             &conformance__v1__echo_response__descriptor, &got, &msg)
           : downstream_call(d, call, rc, CHAIN_PREFIX "Chain", &rest.base,
                             &conformance__v1__chain_response__descriptor, &got, &msg);
  downstream_free(d);
  if (st == GRPC_STATUS_OK) {
    free(msg);
    const char *payload = last ? ((Conformance__V1__EchoResponse *)got)->payload
                               : ((Conformance__V1__ChainResponse *)got)->payload;
    st = answer(payload, out_resp, out_msg);
  } else {
    *out_msg = msg; /* as Relay: the downstream's code and message */
  }
  if (got) protobuf_c_message_free_unpacked(got, NULL);
  return st;
}

grpc_status_code chain_handle(otelc_sdk *sdk, grpc_call *call, otelc_rpc_call *rc,
                              const uint8_t *in, size_t len, ProtobufCMessage **out_resp,
                              char **out_msg) {
  *out_resp = NULL;
  *out_msg = NULL;
  Conformance__V1__ChainRequest *req = conformance__v1__chain_request__unpack(NULL, len, in);
  if (!req) {
    *out_msg = strdup("bad ChainRequest");
    return GRPC_STATUS_INVALID_ARGUMENT;
  }
  if (req->log_message && *req->log_message) {
    /* as Log: the record carries the server span's trace and span ids */
    otelc_span_context sc;
    if (rc) otelc_rpc_call_context(rc, &sc);
    otelc_log_emit(sdk, OTELC_SEVERITY_INFO, req->log_message, NULL, rc ? &sc : NULL);
  }
  grpc_status_code st;
  if (req->fail_code) {
    /* as Fail: a number outside the gRPC codes is UNKNOWN */
    st = req->fail_code > 16 ? GRPC_STATUS_UNKNOWN : (grpc_status_code)req->fail_code;
    *out_msg = strdup("chain failure");
  } else if (req->n_next == 0) {
    st = answer(req->payload, out_resp, out_msg);
  } else {
    st = call_next(sdk, call, rc, req, out_resp, out_msg);
  }
  conformance__v1__chain_request__free_unpacked(req, NULL);
  return st;
}

/* Outgoing calls of downstream.h over gRPC C-core. */
#include "downstream.h"

#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpcx.h"

/* Upper bound of a call whose server call has no deadline of its own. */
#define DOWNSTREAM_TIMEOUT_MS 30000

struct downstream {
  otelc_sdk *sdk;
  char *target;
  grpc_channel *channel;
};

static char TAG_CLIENT;

/* traceparent + tracestate + baggage, with room to spare. */
typedef struct md_list {
  grpc_metadata items[8];
  size_t n;
} md_list;

static void md_set(void *carrier, const char *key, const char *value) {
  md_list *l = carrier;
  if (l->n >= 8) return;
  memset(&l->items[l->n], 0, sizeof l->items[l->n]);
  l->items[l->n].key = grpc_slice_from_copied_string(key);
  l->items[l->n].value = grpc_slice_from_copied_string(value);
  l->n++;
}

static void md_clear(md_list *l) {
  for (size_t i = 0; i < l->n; i++) {
    grpc_slice_unref(l->items[i].key);
    grpc_slice_unref(l->items[i].value);
  }
  l->n = 0;
}

downstream *downstream_new(otelc_sdk *sdk, const char *target) {
  downstream *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  d->sdk = sdk;
  d->target = strdup(target ? target : "");
  if (!d->target) {
    free(d);
    return NULL;
  }
  grpc_channel_credentials *creds = grpc_insecure_credentials_create();
  d->channel = grpc_channel_create(d->target, creds, NULL);
  grpc_channel_credentials_release(creds);
  return d;
}

void downstream_free(downstream *d) {
  if (!d) return;
  grpc_channel_destroy(d->channel);
  free(d->target);
  free(d);
}

/* Unpacks an OK answer; a malformed one turns the call into INTERNAL. */
static grpc_status_code unpack_answer(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *desc,
                                      ProtobufCMessage **out_resp, char **out_msg) {
  size_t len;
  uint8_t *bytes = grpcx_bb_read(bb, &len);
  *out_resp = bytes ? protobuf_c_message_unpack(desc, NULL, len, bytes) : NULL;
  free(bytes);
  if (*out_resp) return GRPC_STATUS_OK;
  char msg[160];
  snprintf(msg, sizeof msg, "bad %s from downstream", desc->short_name);
  *out_msg = strdup(msg);
  return GRPC_STATUS_INTERNAL;
}

grpc_status_code downstream_call(downstream *d, grpc_call *parent, otelc_rpc_call *server_rc,
                                 const char *full_method, const ProtobufCMessage *req,
                                 const ProtobufCMessageDescriptor *resp_desc,
                                 ProtobufCMessage **out_resp, char **out_msg) {
  *out_resp = NULL;
  *out_msg = NULL;
  otelc_rpc_call *rc = otelc_rpc_client_start(d->sdk, server_rc, full_method, d->target);
  md_list md = {.n = 0};
  if (rc) otelc_rpc_inject(rc, md_set, &md);

  grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
  grpc_slice method = grpc_slice_from_copied_string(full_method);
  grpc_call *call =
      grpc_channel_create_call(d->channel, parent, GRPC_PROPAGATE_DEFAULTS, cq, method, NULL,
                               grpcx_ms_from_now(DOWNSTREAM_TIMEOUT_MS), NULL);
  grpc_slice_unref(method);
  grpc_byte_buffer *send_bb = grpcx_bb_pack(req), *recv_bb = NULL;
  grpc_metadata_array init_md, trailing_md;
  grpc_metadata_array_init(&init_md);
  grpc_metadata_array_init(&trailing_md);
  grpc_status_code status = GRPC_STATUS_UNKNOWN;
  grpc_slice details = grpc_empty_slice();
  grpc_op ops[6];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[0].data.send_initial_metadata.count = md.n;
  ops[0].data.send_initial_metadata.metadata = md.items;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = send_bb;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &init_md;
  ops[4].op = GRPC_OP_RECV_MESSAGE;
  ops[4].data.recv_message.recv_message = &recv_bb;
  ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[5].data.recv_status_on_client.trailing_metadata = &trailing_md;
  ops[5].data.recv_status_on_client.status = &status;
  ops[5].data.recv_status_on_client.status_details = &details;
  if (send_bb && grpc_call_start_batch(call, ops, 6, &TAG_CLIENT, NULL) == GRPC_CALL_OK) {
    for (;;) {
      grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
      if (ev.type != GRPC_OP_COMPLETE || ev.tag == &TAG_CLIENT) break;
    }
  } else {
    status = GRPC_STATUS_INTERNAL;
  }
  if (status == GRPC_STATUS_OK) status = unpack_answer(recv_bb, resp_desc, out_resp, out_msg);
  if (!*out_msg) {
    char *dmsg = grpc_slice_to_c_string(details);
    *out_msg = strdup(dmsg);
    gpr_free(dmsg);
  }
  if (rc) otelc_rpc_finish(rc, (int)status, *out_msg);

  grpc_slice_unref(details);
  grpc_metadata_array_destroy(&init_md);
  grpc_metadata_array_destroy(&trailing_md);
  if (recv_bb) grpc_byte_buffer_destroy(recv_bb);
  if (send_bb) grpc_byte_buffer_destroy(send_bb);
  md_clear(&md);
  grpc_call_unref(call);
  grpcx_cq_drain_destroy(cq);
  return status;
}

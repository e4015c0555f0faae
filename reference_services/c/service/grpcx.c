/* Helpers of grpcx.h. */
#include "grpcx.h"

#include <grpc/byte_buffer_reader.h>
#include <stdlib.h>
#include <string.h>

gpr_timespec grpcx_ms_from_now(int64_t ms) {
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

void grpcx_cq_drain_destroy(grpc_completion_queue *cq) {
  grpc_completion_queue_shutdown(cq);
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
  }
  grpc_completion_queue_destroy(cq);
}

uint8_t *grpcx_bb_read(grpc_byte_buffer *bb, size_t *len) {
  *len = 0;
  if (!bb) return calloc(1, 1);
  grpc_byte_buffer_reader r;
  if (!grpc_byte_buffer_reader_init(&r, bb)) return NULL;
  grpc_slice s = grpc_byte_buffer_reader_readall(&r);
  grpc_byte_buffer_reader_destroy(&r);
  *len = GRPC_SLICE_LENGTH(s);
  uint8_t *out = malloc(*len + 1);
  if (out) {
    if (*len) memcpy(out, GRPC_SLICE_START_PTR(s), *len);
    out[*len] = 0;
  }
  grpc_slice_unref(s);
  return out;
}

grpc_byte_buffer *grpcx_bb_from(const uint8_t *data, size_t len) {
  grpc_slice s = grpc_slice_from_copied_buffer((const char *)data, len);
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
  grpc_slice_unref(s);
  return bb;
}

grpc_byte_buffer *grpcx_bb_pack(const ProtobufCMessage *m) {
  size_t n = protobuf_c_message_get_packed_size(m);
  uint8_t *buf = malloc(n ? n : 1);
  if (!buf) return NULL;
  protobuf_c_message_pack(m, buf);
  grpc_byte_buffer *bb = grpcx_bb_from(buf, n);
  free(buf);
  return bb;
}

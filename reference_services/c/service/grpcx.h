/* grpcx.h - small gRPC C-core helpers shared by the service's modules.
 *
 * No handles. Byte buffers returned here are owned by the caller
 * (grpc_byte_buffer_destroy), as are the bytes of grpcx_bb_read (free).
 */
#ifndef SERVICE_GRPCX_H
#define SERVICE_GRPCX_H

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/support/time.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

/* A monotonic-clock deadline `ms` milliseconds from now. */
gpr_timespec grpcx_ms_from_now(int64_t ms);

/* Shuts `cq` down, drains what is left on it and destroys it. */
void grpcx_cq_drain_destroy(grpc_completion_queue *cq);

/* The bytes of `bb` (NULL = an empty message), NUL-terminated one past *len;
 * NULL when the buffer cannot be read. */
uint8_t *grpcx_bb_read(grpc_byte_buffer *bb, size_t *len);

grpc_byte_buffer *grpcx_bb_from(const uint8_t *data, size_t len);
grpc_byte_buffer *grpcx_bb_pack(const ProtobufCMessage *m); /* NULL when out of memory */

#endif

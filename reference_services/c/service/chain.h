/* chain.h - conformance.v1.Conformance/Chain, one step of a call chain across
 * services (the contract's comment on `rpc Chain` is the spec).
 *
 * No handles: chain_handle borrows its arguments; what it hands back through
 * the out-parameters belongs to the caller.
 */
#ifndef SERVICE_CHAIN_H
#define SERVICE_CHAIN_H

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "otelc/otelc.h"

/* Handles the serialized ChainRequest `in` of the server call `call`, whose
 * SERVER span is `rc` (may be NULL). Returns the status to end the call with.
 * On OK, *out_resp is a ChainResponse (free with
 * protobuf_c_message_free_unpacked(…, NULL)); otherwise NULL. *out_msg is the
 * status message (malloc'd) or NULL; the caller frees it. */
grpc_status_code chain_handle(otelc_sdk *sdk, grpc_call *call, otelc_rpc_call *rc,
                              const uint8_t *in, size_t len, ProtobufCMessage **out_resp,
                              char **out_msg);

#endif

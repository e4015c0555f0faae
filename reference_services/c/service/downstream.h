/* downstream.h - the service's instrumented outgoing unary calls (Relay, Chain).
 *
 * Handle: downstream, from downstream_new (one plaintext channel to a
 * "host:port" target), released with downstream_free (caller owns; the SDK
 * is borrowed and must outlive it). Used by one thread at a time.
 *
 * Every downstream_call runs from a CLIENT span child of the server call's
 * span, carries that span's context in its metadata (the SDK's propagators:
 * traceparent, tracestate, baggage), and is created as a child of the server's
 * grpc_call, so the incoming deadline and a cancellation reach the next hop.
 */
#ifndef SERVICE_DOWNSTREAM_H
#define SERVICE_DOWNSTREAM_H

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>

#include "otelc/otelc.h"

typedef struct downstream downstream;

/* NULL when out of memory. */
downstream *downstream_new(otelc_sdk *sdk, const char *target);
void downstream_free(downstream *d); /* NULL allowed */

/* Calls `full_method` ("/pkg.Service/Method") with `req`; `parent` and
 * `server_rc` (both borrowed) are the server call being handled and its rpc
 * handle (NULL: a root span). Returns the call's status code. On OK,
 * *out_resp is the answer unpacked as `resp_desc` (free with
 * protobuf_c_message_free_unpacked(…, NULL)); otherwise *out_resp is NULL. An
 * answer that does not parse ends as INTERNAL. *out_msg is the status message
 * (malloc'd, possibly "", caller frees). */
grpc_status_code downstream_call(downstream *d, grpc_call *parent, otelc_rpc_call *server_rc,
                                 const char *full_method, const ProtobufCMessage *req,
                                 const ProtobufCMessageDescriptor *resp_desc,
                                 ProtobufCMessage **out_resp, char **out_msg);

#endif

/* otelc/rpc.h - gRPC instrumentation helpers for the semconv "seed" profile
 * (legacy RPC conventions <= v1.38):
 *   span name  "<rpc.service>/<rpc.method>", e.g. conformance.v1.Conformance/Echo
 *   attributes rpc.system="grpc", rpc.service, rpc.method,
 *              rpc.grpc.status_code (int); client spans add server.address,
 *              server.port
 *   status     server: ERROR only for UNKNOWN(2), DEADLINE_EXCEEDED(4),
 *              UNIMPLEMENTED(12), INTERNAL(13), UNAVAILABLE(14), DATA_LOSS(15);
 *              client: ERROR for every non-OK code
 *   metrics    rpc.server.duration / rpc.client.duration, histogram, unit ms,
 *              attributes rpc.system, rpc.service, rpc.method,
 *              rpc.grpc.status_code
 *
 * Handle: otelc_rpc_call, from otelc_rpc_server_start / otelc_rpc_client_start,
 * released by otelc_rpc_finish (ends the span, records the duration) or
 * otelc_rpc_call_free (discards). Used by one thread at a time.
 */
#ifndef OTELC_RPC_H
#define OTELC_RPC_H

#include "otelc/common.h"
#include "otelc/propagation.h"
#include "otelc/sdk.h"
#include "otelc/trace.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct otelc_rpc_call otelc_rpc_call;

/* Parses "/pkg.Service/Method" (leading '/' optional) into its parts; the
 * outputs are NUL-terminated copies truncated to their buffer sizes.
 * OTELC_ERR_INVALID when there is no '/' separating service and method. */
int otelc_rpc_split_method(const char *full_method, char *service, size_t service_size,
                           char *method, size_t method_size);

/* true when the code makes the span status ERROR for that span kind. */
bool otelc_rpc_status_is_error(otelc_span_kind kind, int grpc_code);

/* Server side: extracts context from the incoming metadata (using the SDK's
 * propagators) and starts a SERVER span child of it. `full_method` is the
 * gRPC path "/pkg.Service/Method". The extracted baggage is kept in the call
 * (otelc_rpc_call_baggage). */
otelc_rpc_call *otelc_rpc_server_start(otelc_sdk *sdk, const char *full_method,
                                       const otelc_header *metadata, size_t n_metadata);

/* Client side: starts a CLIENT span child of `parent_call`'s span (or a root
 * when NULL), sets server.address/server.port from `target` ("host:port",
 * "[v6]:port" or "dns:///host:port"), and inherits the parent's baggage. */
otelc_rpc_call *otelc_rpc_client_start(otelc_sdk *sdk, const otelc_rpc_call *parent_call,
                                       const char *full_method, const char *target);

/* Injects traceparent/tracestate/baggage of this call's span into outgoing
 * metadata through `set`. Returns the number of headers set. */
int otelc_rpc_inject(const otelc_rpc_call *call, otelc_header_setter set, void *carrier);

otelc_span *otelc_rpc_call_span(otelc_rpc_call *call);                 /* borrowed */
const otelc_baggage *otelc_rpc_call_baggage(const otelc_rpc_call *call); /* borrowed, never NULL */
void otelc_rpc_call_context(const otelc_rpc_call *call, otelc_span_context *out);

/* Sets rpc.grpc.status_code and the span status (description = message for
 * ERROR), ends the span and records the duration histogram. Frees call. */
void otelc_rpc_finish(otelc_rpc_call *call, int grpc_code, const char *message);
void otelc_rpc_call_free(otelc_rpc_call *call); /* NULL allowed */

#ifdef __cplusplus
}
#endif
#endif

package telemetry

import (
	"context"
	"os"
	"strconv"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

// ServerHandler is otelgrpc's server stats handler with the span attributes
// it misses added (see spanFixHandler); ClientHandler is the same for
// clients. Both take otelgrpc's options.
func ServerHandler(opts ...otelgrpc.Option) stats.Handler {
	return wrapSpanFix(otelgrpc.NewServerHandler(opts...), true)
}

// ClientHandler is otelgrpc's client stats handler with the span attributes
// it misses added.
func ClientHandler(opts ...otelgrpc.Option) stats.Handler {
	return wrapSpanFix(otelgrpc.NewClientHandler(opts...), false)
}

func wrapSpanFix(h stats.Handler, server bool) stats.Handler {
	stable, legacy := rpcSemconvMode(os.Getenv("OTEL_SEMCONV_STABILITY_OPT_IN"))
	return spanFixHandler{Handler: h, server: server, stable: stable, legacy: legacy}
}

// spanFixHandler sets, on the span of a call, the attributes otelgrpc
// v0.72.0 leaves out, just before the wrapped handler ends the span:
//
//   - current conventions (default, rpc/dup): error.type. otelgrpc records it
//     on rpc.{server,client}.call.duration but not on spans, where semconv
//     (docs/rpc/grpc.md) makes it Conditionally Required "if and only if the
//     operation failed", set to the status code. Failure is role-specific, as
//     for span status: a client fails on every non-OK code, a server only on
//     UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE and
//     DATA_LOSS.
//   - legacy conventions (OTEL_SEMCONV_STABILITY_OPT_IN=rpc/old or rpc/dup):
//     rpc.grpc.status_code (int). In those modes otelgrpc emits rpc.system,
//     rpc.service and the short rpc.method, but still writes the status as
//     the new rpc.response.status_code string only.
type spanFixHandler struct {
	stats.Handler
	server, stable, legacy bool
}

func (h spanFixHandler) HandleRPC(ctx context.Context, rs stats.RPCStats) {
	if end, ok := rs.(*stats.End); ok {
		if span := trace.SpanFromContext(ctx); span.IsRecording() {
			code := status.Code(end.Error) // OK when Error is nil
			if h.legacy {
				span.SetAttributes(attribute.Int("rpc.grpc.status_code", int(code)))
			}
			if h.stable && code != codes.OK && (!h.server || ServerFault(code)) {
				span.SetAttributes(attribute.String("error.type", CodeName(code)))
			}
		}
	}
	h.Handler.HandleRPC(ctx, rs)
}

// ServerFault reports whether semconv counts code as a server-side error.
func ServerFault(code codes.Code) bool {
	switch code {
	case codes.Unknown, codes.DeadlineExceeded, codes.Unimplemented,
		codes.Internal, codes.Unavailable, codes.DataLoss:
		return true
	}
	return false
}

var codeNames = [...]string{
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
	"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
	"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
	"INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
}

// CodeName is the canonical name of a gRPC status code ("DEADLINE_EXCEEDED"),
// as otelgrpc writes it in rpc.response.status_code.
func CodeName(code codes.Code) string {
	if int(code) < len(codeNames) {
		return codeNames[code]
	}
	return "CODE(" + strconv.FormatUint(uint64(code), 10) + ")"
}

// rpcSemconvMode mirrors otelgrpc's reading of OTEL_SEMCONV_STABILITY_OPT_IN
// (the first of rpc/dup or rpc/old in the list wins; neither means the
// current conventions only) and tells which conventions are emitted.
func rpcSemconvMode(optIn string) (stable, legacy bool) {
	for _, p := range strings.Split(optIn, ",") {
		switch strings.TrimSpace(p) {
		case "rpc/dup":
			return true, true
		case "rpc/old":
			return false, true
		}
	}
	return true, false
}

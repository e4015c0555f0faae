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

// ServerHandler is otelgrpc's server stats handler plus error.type on server
// spans; ClientHandler is the same for clients. See errorTypeHandler.
func ServerHandler(opts ...otelgrpc.Option) stats.Handler {
	return wrapErrorType(otelgrpc.NewServerHandler(opts...), true)
}

// ClientHandler is otelgrpc's client stats handler plus error.type on client
// spans.
func ClientHandler(opts ...otelgrpc.Option) stats.Handler {
	return wrapErrorType(otelgrpc.NewClientHandler(opts...), false)
}

func wrapErrorType(h stats.Handler, server bool) stats.Handler {
	if !stableRPCSemconv(os.Getenv("OTEL_SEMCONV_STABILITY_OPT_IN")) {
		return h // rpc/old: the legacy conventions have no error.type
	}
	return errorTypeHandler{Handler: h, server: server}
}

// errorTypeHandler adds error.type to the span of a failed call before the
// wrapped otelgrpc handler ends it.
//
// otelgrpc v0.72.0 records error.type on rpc.{server,client}.call.duration
// but not on spans, where semconv (docs/rpc/grpc.md) makes it Conditionally
// Required "if and only if the operation failed", set to the status code.
// Failure is role-specific, as for span status: a client fails on every
// non-OK code, a server only on UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED,
// INTERNAL, UNAVAILABLE and DATA_LOSS.
type errorTypeHandler struct {
	stats.Handler
	server bool
}

func (h errorTypeHandler) HandleRPC(ctx context.Context, rs stats.RPCStats) {
	if end, ok := rs.(*stats.End); ok && end.Error != nil {
		code := status.Code(end.Error)
		if code != codes.OK && (!h.server || ServerFault(code)) {
			if span := trace.SpanFromContext(ctx); span.IsRecording() {
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

// stableRPCSemconv mirrors otelgrpc's reading of OTEL_SEMCONV_STABILITY_OPT_IN:
// the current conventions unless the list holds rpc/old (and not rpc/dup).
func stableRPCSemconv(optIn string) bool {
	for _, p := range strings.Split(optIn, ",") {
		switch strings.TrimSpace(p) {
		case "rpc/dup":
			return true
		case "rpc/old":
			return false
		}
	}
	return true
}

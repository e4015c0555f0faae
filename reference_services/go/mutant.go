package main

import (
	"context"
	"os"
	"time"

	"google.golang.org/grpc"
)

// The project's tests run the reference with CONFORMANCE_MUTANT naming a
// deliberate fault, to prove a check can fail; a real deployment never sets it.
// The Go reference has one: "slow-when-instrumented" makes every unary call
// take 10 % longer while the SDK is on (and not with OTEL_SDK_DISABLED=true),
// the shape of an instrumentation that costs more than the overhead check allows.
const slowWhenInstrumented = "slow-when-instrumented"

// serverOptions are the mutant's extra server options: none unless it is active
// and the SDK is on.
func serverOptions(sdkEnabled bool) []grpc.ServerOption {
	if os.Getenv("CONFORMANCE_MUTANT") != slowWhenInstrumented || !sdkEnabled {
		return nil
	}
	return []grpc.ServerOption{grpc.UnaryInterceptor(func(ctx context.Context, req any,
		_ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		started := time.Now()
		resp, err := handler(ctx, req)
		time.Sleep(time.Since(started) / 10)
		return resp, err
	})}
}

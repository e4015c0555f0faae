package main

import (
	"fmt"
	"os"
)

// The project's tests start the greeter with CONFORMANCE_MUTANT naming a
// deliberate, realistic bug, to prove the suite notices it in zero-contract
// mode; a real deployment never sets it.
//
// "no-propagator": the global propagator is never installed, one of the most
// common mistakes with the Go SDK (otel.SetTextMapPropagator is easy to
// forget, and the API's default propagates nothing). Incoming traceparent is
// then ignored, so every server span starts a new trace, and the client call
// of RelayHello sends no traceparent/tracestate/baggage.
const noPropagator = "no-propagator"

type mutant struct {
	skipPropagator bool
}

// mutantFromEnv reads CONFORMANCE_MUTANT; an unknown name is an error, so a
// typo cannot silently test the correct service.
func mutantFromEnv() (mutant, error) {
	switch name := os.Getenv("CONFORMANCE_MUTANT"); name {
	case "":
		return mutant{}, nil
	case noPropagator:
		return mutant{skipPropagator: true}, nil
	default:
		return mutant{}, fmt.Errorf("unknown CONFORMANCE_MUTANT %q (known: %s)", name, noPropagator)
	}
}

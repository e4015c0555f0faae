package telemetry

import (
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/propagation"
)

// PropagatorsFromEnv builds the propagator OTEL_PROPAGATORS names, which the
// Go SDK does not read by itself. Unset or empty means the default
// "tracecontext,baggage"; "none" (alone or anywhere in the list) means no
// propagation. Unsupported names are reported in warnings and skipped, as the
// specification asks. The result always extracts through JoiningPropagator.
func PropagatorsFromEnv(value string) (propagation.TextMapPropagator, []string) {
	var warnings []string
	if strings.TrimSpace(value) == "" {
		value = "tracecontext,baggage"
	}
	var props []propagation.TextMapPropagator
	seen := map[string]bool{}
	for _, name := range strings.Split(value, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" || seen[name] {
			continue
		}
		seen[name] = true
		switch name {
		case "tracecontext":
			props = append(props, propagation.TraceContext{})
		case "baggage":
			props = append(props, propagation.Baggage{})
		case "none":
			return JoiningPropagator{Inner: propagation.NewCompositeTextMapPropagator()}, warnings
		default:
			warnings = append(warnings, fmt.Sprintf("OTEL_PROPAGATORS: unsupported propagator %q ignored", name))
		}
	}
	return JoiningPropagator{Inner: propagation.NewCompositeTextMapPropagator(props...)}, warnings
}

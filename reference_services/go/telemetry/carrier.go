package telemetry

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc/metadata"
)

// MetadataCarrier is a TextMapCarrier over gRPC metadata that treats repeated
// keys the way HTTP treats repeated header fields: Get returns every value of
// the key, each stripped of optional whitespace, joined with "," in order.
//
// That is what the W3C rules need: two traceparent values join into a value
// that no longer parses (so the receiver starts a new trace), several
// tracestate values combine in order, several baggage values combine.
// Values also gives the propagators that accept it (baggage) each value.
type MetadataCarrier metadata.MD

var (
	_ propagation.TextMapCarrier = MetadataCarrier{}
	_ propagation.ValuesGetter   = MetadataCarrier{}
)

// Get returns all values of key joined with ",", or "" when there is none.
func (c MetadataCarrier) Get(key string) string {
	return field(key, metadata.MD(c).Get(key))
}

// Values returns all values of key, each stripped of optional whitespace.
func (c MetadataCarrier) Values(key string) []string {
	values := metadata.MD(c).Get(key)
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = trimOWS(v)
	}
	return out
}

// Set replaces all values of key with value.
func (c MetadataCarrier) Set(key, value string) {
	metadata.MD(c).Set(key, value)
}

// Keys returns the keys present.
func (c MetadataCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// joiningCarrier adapts any carrier that can return all values of a key
// (propagation.HeaderCarrier, for one) so that Get returns them joined.
type joiningCarrier struct {
	inner interface {
		propagation.TextMapCarrier
		propagation.ValuesGetter
	}
}

func (c joiningCarrier) Get(key string) string      { return field(key, c.inner.Values(key)) }
func (c joiningCarrier) Values(key string) []string { return c.inner.Values(key) }
func (c joiningCarrier) Set(key, value string)      { c.inner.Set(key, value) }
func (c joiningCarrier) Keys() []string             { return c.inner.Keys() }

func trimOWS(v string) string { return strings.Trim(v, " \t") }

// field is the value a propagator sees for key. otel-go's traceparent parser
// accepts anything after the flags when it starts with "-", even for version
// 00, which W3C Trace Context ends right after the flags (55 characters); such
// a value is hidden, so the receiver starts a new trace as the spec requires.
func field(key string, values []string) string {
	joined := joinValues(values)
	if key == "traceparent" && strings.HasPrefix(joined, "00-") && len(joined) != 55 {
		return ""
	}
	return joined
}

func joinValues(values []string) string {
	switch len(values) {
	case 0:
		return ""
	case 1:
		return trimOWS(values[0])
	}
	trimmed := make([]string, len(values))
	for i, v := range values {
		trimmed[i] = trimOWS(v)
	}
	return strings.Join(trimmed, ",")
}

// JoiningPropagator wraps a propagator so that extraction sees every value of
// a repeated header instead of only the first one.
//
// otelgrpc (v0.72.0) extracts through an unexported metadata carrier whose Get
// returns only the first value of a key and which does not implement
// propagation.ValuesGetter. The carrier cannot be reached, but the metadata it
// wraps can: otelgrpc builds it from metadata.FromIncomingContext(ctx) of the
// very context it passes to Extract. So when the incoming metadata agrees with
// the given carrier on every propagation field (first value equal, which holds
// for otelgrpc's carrier and for no unrelated one), extraction reads the
// metadata through MetadataCarrier instead. Any carrier that implements
// propagation.ValuesGetter gets its values joined too. Injection is unchanged.
type JoiningPropagator struct {
	Inner propagation.TextMapPropagator
}

var _ propagation.TextMapPropagator = JoiningPropagator{}

// Inject delegates to the wrapped propagator.
func (p JoiningPropagator) Inject(ctx context.Context, carrier propagation.TextMapCarrier) {
	p.Inner.Inject(ctx, carrier)
}

// Fields delegates to the wrapped propagator.
func (p JoiningPropagator) Fields() []string { return p.Inner.Fields() }

// Extract extracts through a carrier that joins repeated values.
func (p JoiningPropagator) Extract(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	return p.Inner.Extract(ctx, p.joining(ctx, carrier))
}

func (p JoiningPropagator) joining(ctx context.Context, carrier propagation.TextMapCarrier) propagation.TextMapCarrier {
	switch c := carrier.(type) {
	case MetadataCarrier, joiningCarrier:
		return carrier
	case interface {
		propagation.TextMapCarrier
		propagation.ValuesGetter
	}:
		return joiningCarrier{inner: c}
	}
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return carrier
	}
	for _, field := range p.Inner.Fields() {
		first := ""
		if values := md.Get(field); len(values) > 0 {
			first = values[0]
		}
		if carrier.Get(field) != first {
			return carrier // not a view of this call's metadata
		}
	}
	return MetadataCarrier(md)
}

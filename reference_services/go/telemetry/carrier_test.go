package telemetry

import (
	"context"
	"net"
	"net/http"
	"sort"
	"strings"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/emptypb"
)

const (
	tp1 = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	tp2 = "00-0af7651916cd43dd8448eb211c80319c-c7ad6b7169203331-01"
)

func defaultPropagator(t *testing.T) propagation.TextMapPropagator {
	t.Helper()
	p, warnings := PropagatorsFromEnv("")
	if len(warnings) > 0 {
		t.Fatalf("warnings: %v", warnings)
	}
	return p
}

func TestMetadataCarrierJoinsRepeatedValues(t *testing.T) {
	md := metadata.MD{}
	md.Append("tracestate", "a=1", " b=2 ", "")
	md.Append("traceparent", " "+tp1+"\t")
	c := MetadataCarrier(md)
	if got, want := c.Get("tracestate"), "a=1,b=2,"; got != want {
		t.Errorf("Get(tracestate) = %q, want %q", got, want)
	}
	if got := c.Get("TraceParent"); got != tp1 {
		t.Errorf("Get(traceparent) = %q, want the value without OWS", got)
	}
	if got := c.Get("missing"); got != "" {
		t.Errorf("Get(missing) = %q", got)
	}
	if got := c.Values("tracestate"); len(got) != 3 || got[1] != "b=2" {
		t.Errorf("Values(tracestate) = %q", got)
	}
}

// extractFromIncoming runs the propagator the way otelgrpc does: the carrier
// it hands over sees only the first value of each key, the context holds the
// whole incoming metadata.
func extractFromIncoming(p propagation.TextMapPropagator, md metadata.MD) context.Context {
	ctx := metadata.NewIncomingContext(context.Background(), md)
	return p.Extract(ctx, firstValueCarrier(md))
}

// firstValueCarrier behaves like otelgrpc's unexported metadataSupplier.
type firstValueCarrier metadata.MD

func (c firstValueCarrier) Get(key string) string {
	if v := metadata.MD(c).Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}
func (c firstValueCarrier) Set(key, value string) { metadata.MD(c).Set(key, value) }
func (c firstValueCarrier) Keys() []string {
	keys := []string{}
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

func TestTwoTraceparentsAreInvalid(t *testing.T) {
	p := defaultPropagator(t)
	for name, values := range map[string][]string{"same": {tp1, tp1}, "different": {tp1, tp2}} {
		md := metadata.MD{}
		md.Append("traceparent", values...)
		sc := trace.SpanContextFromContext(extractFromIncoming(p, md))
		if sc.IsValid() {
			t.Errorf("%s: two traceparent values extracted as %v, want invalid", name, sc.SpanID())
		}
		// Without the wrapper the SDK takes the first value: the gap fixed here.
		if !trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), firstValueCarrier(md))).IsValid() {
			t.Errorf("%s: expected the unwrapped propagator to accept the first value", name)
		}
	}
}

func TestOneTraceparentAndCombinedTracestate(t *testing.T) {
	md := metadata.MD{}
	md.Append("traceparent", tp1)
	md.Append("tracestate", "foo=1", "bar=2,baz=3")
	sc := trace.SpanContextFromContext(extractFromIncoming(defaultPropagator(t), md))
	if !sc.IsValid() || sc.SpanID().String() != "b7ad6b7169203331" {
		t.Fatalf("span context = %+v", sc)
	}
	if got, want := sc.TraceState().String(), "foo=1,bar=2,baz=3"; got != want {
		t.Errorf("tracestate = %q, want %q", got, want)
	}
}

func TestBaggageCombined(t *testing.T) {
	md := metadata.MD{}
	md.Append("baggage", "k1=v1", "k2=v2;p=1")
	bag := baggage.FromContext(extractFromIncoming(defaultPropagator(t), md))
	if bag.Member("k1").Value() != "v1" || bag.Member("k2").Value() != "v2" {
		t.Errorf("baggage = %q", bag.String())
	}
}

func TestUnrelatedCarrierIsLeftAlone(t *testing.T) {
	// Incoming metadata of a gRPC call, but a carrier that is not a view of it.
	md := metadata.MD{}
	md.Append("traceparent", tp1, tp2)
	ctx := metadata.NewIncomingContext(context.Background(), md)
	other := propagation.MapCarrier{"traceparent": tp2}
	sc := trace.SpanContextFromContext(defaultPropagator(t).Extract(ctx, other))
	if !sc.IsValid() || sc.SpanID().String() != "c7ad6b7169203331" {
		t.Errorf("span context = %+v, want the map carrier's", sc)
	}
}

func TestHeaderCarrierJoined(t *testing.T) {
	h := http.Header{}
	h.Add("Traceparent", tp1)
	h.Add("Traceparent", tp2)
	if trace.SpanContextFromContext(defaultPropagator(t).Extract(context.Background(), propagation.HeaderCarrier(h))).IsValid() {
		t.Error("two traceparent headers extracted as valid")
	}
}

func TestPropagatorsFromEnv(t *testing.T) {
	cases := map[string][]string{
		"":                          {"traceparent", "tracestate", "baggage"},
		"tracecontext":              {"traceparent", "tracestate"},
		" baggage ":                 {"baggage"},
		"none":                      nil,
		"tracecontext,none":         nil,
		"tracecontext,b3,baggage":   {"traceparent", "tracestate", "baggage"},
		"tracecontext,tracecontext": {"traceparent", "tracestate"},
	}
	for value, want := range cases {
		p, warnings := PropagatorsFromEnv(value)
		got := p.Fields() // the composite's order is not defined
		sort.Strings(got)
		want = append([]string(nil), want...)
		sort.Strings(want)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%q: fields %v, want %v", value, got, want)
		}
		if value == "tracecontext,b3,baggage" && len(warnings) != 1 {
			t.Errorf("%q: warnings %v, want one", value, warnings)
		}
	}
}

// TestThroughOtelgrpc sends repeated propagation headers with a grpc-go
// client to a server instrumented by ServerHandler, end to end.
func TestThroughOtelgrpc(t *testing.T) {
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	var seenBaggage string
	server := grpc.NewServer(
		grpc.StatsHandler(ServerHandler(otelgrpc.WithTracerProvider(tp), otelgrpc.WithPropagators(defaultPropagator(t)))),
		grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
			seenBaggage = baggage.FromContext(stream.Context()).Member("k2").Value()
			var m emptypb.Empty
			if err := stream.RecvMsg(&m); err != nil {
				return err
			}
			return stream.SendMsg(&m)
		}))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go server.Serve(lis)
	defer server.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	call := func(kv ...string) sdktrace.ReadOnlySpan {
		t.Helper()
		before := len(recorder.Ended())
		ctx := metadata.AppendToOutgoingContext(context.Background(), kv...)
		if err := conn.Invoke(ctx, "/test.Svc/Call", &emptypb.Empty{}, &emptypb.Empty{}); err != nil {
			t.Fatal(err)
		}
		ended := recorder.Ended()
		if len(ended) != before+1 {
			t.Fatalf("%d spans ended, want 1", len(ended)-before)
		}
		return ended[len(ended)-1]
	}

	span := call("traceparent", tp1, "tracestate", "a=1", "tracestate", "b=2", "baggage", "k1=v1", "baggage", "k2=v2")
	if span.Parent().SpanID().String() != "b7ad6b7169203331" {
		t.Errorf("parent = %v, want the incoming one", span.Parent().SpanID())
	}
	if got := span.SpanContext().TraceState().String(); got != "a=1,b=2" {
		t.Errorf("tracestate = %q, want a=1,b=2", got)
	}
	if seenBaggage != "v2" {
		t.Errorf("baggage k2 = %q, want v2 from the second baggage header", seenBaggage)
	}

	span = call("traceparent", tp1, "traceparent", tp2, "tracestate", "a=1")
	if span.Parent().IsValid() || span.SpanContext().TraceID().String() == "0af7651916cd43dd8448eb211c80319c" {
		t.Errorf("two traceparents: span continues %v/%v, want a new trace", span.SpanContext().TraceID(), span.Parent().SpanID())
	}
	if span.SpanContext().TraceState().Len() != 0 {
		t.Errorf("two traceparents: tracestate %q kept, want ignored", span.SpanContext().TraceState())
	}
}

func TestVersionZeroTraceparentMustEndAfterTheFlags(t *testing.T) {
	valid := "00-5c0f1111111111111111111111111111-2222222222222222-01"
	for value, want := range map[string]string{valid: valid, valid + "-": "", valid + "-extra": ""} {
		if got := (MetadataCarrier{"traceparent": {value}}).Get("traceparent"); got != want {
			t.Errorf("Get(traceparent) of %q = %q, want %q", value, got, want)
		}
	}
}

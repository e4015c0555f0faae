// Command flooder_go is bench/flooder.py in Go: the same OTLP/gRPC trace exports (512-span
// requests of the references' server-span shape, fresh ids every send, traces the suite never
// started), the same options and the same JSON line at the end. It exists because a Python
// load generator takes a quarter of a core at 100k spans/s, on the 2-core machine where it
// shares the cores with the run it measures; this one takes a fraction of that, so a flooded
// run's slowdown is more nearly the suite's own.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	common "go.opentelemetry.io/proto/otlp/common/v1"
	resource "go.opentelemetry.io/proto/otlp/resource/v1"
	trace "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
)

const exportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

// Trace ids starting with these bytes are the suite's own: never sent here.
var suiteMarker = []byte{0x5c, 0x0f}

const distinctRequests = 4 // per connection, as flooder.py

// rawCodec sends the serialised request as it is, so each send costs the call alone.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append((*(v.(*[]byte)))[:0], data...)
	return nil
}
func (rawCodec) Name() string { return "proto" } // the wire's content-subtype stays application/grpc+proto

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

func traceID() []byte {
	for {
		if id := randomBytes(16); !bytes.HasPrefix(id, suiteMarker) {
			return id
		}
	}
}

func str(v string) *common.AnyValue {
	return &common.AnyValue{Value: &common.AnyValue_StringValue{StringValue: v}}
}

func exportRequest(spans int) ([]byte, []int) {
	attrs := func(kv ...any) []*common.KeyValue {
		var out []*common.KeyValue
		for i := 0; i < len(kv); i += 2 {
			value := str(fmt.Sprint(kv[i+1]))
			if n, ok := kv[i+1].(int); ok {
				value = &common.AnyValue{Value: &common.AnyValue_IntValue{IntValue: int64(n)}}
			}
			out = append(out, &common.KeyValue{Key: kv[i].(string), Value: value})
		}
		return out
	}
	now := uint64(time.Now().UnixNano())
	scope := &trace.ScopeSpans{Scope: &common.InstrumentationScope{Name: "bench.flooder"}}
	for i := 0; i < spans; i++ {
		scope.Spans = append(scope.Spans, &trace.Span{
			TraceId: traceID(), SpanId: randomBytes(8), ParentSpanId: randomBytes(8),
			Name: "flood.v1.Work/Step", Kind: trace.Span_SPAN_KIND_SERVER,
			StartTimeUnixNano: now + uint64(i), EndTimeUnixNano: now + uint64(i) + 250_000,
			Attributes: attrs("rpc.system", "grpc", "rpc.service", "flood.v1.Work", "rpc.method", "Step",
				"server.address", "127.0.0.1", "rpc.grpc.status_code", 0),
		})
	}
	request := &collectortrace.ExportTraceServiceRequest{ResourceSpans: []*trace.ResourceSpans{{
		Resource: &resource.Resource{Attributes: attrs("service.name", "flood", "service.version", "1.0.0",
			"service.instance.id", fmt.Sprintf("%x", randomBytes(8)))},
		ScopeSpans: []*trace.ScopeSpans{scope},
	}}}
	raw, err := proto.Marshal(request)
	if err != nil {
		panic(err)
	}
	// Where each id ends in the serialised request: its last 4 bytes take a send counter.
	var ends []int
	for _, span := range scope.Spans {
		for _, id := range [][]byte{span.TraceId, span.SpanId} {
			ends = append(ends, bytes.Index(raw, id)+len(id))
		}
	}
	return raw, ends
}

type flood struct {
	batch, spans                   int64
	interval                       time.Duration
	sends, sent, accepted, refused atomic.Int64
	stop                           chan struct{}
	stopOnce                       sync.Once
}

func (f *flood) halt() { f.stopOnce.Do(func() { close(f.stop) }) }

func (f *flood) send(conn *grpc.ClientConn, connection, connections int) {
	requests := make([][]byte, distinctRequests)
	ends := make([][]int, distinctRequests)
	for i := range requests {
		requests[i], ends[i] = exportRequest(int(f.batch))
	}
	due := time.Now().Add(time.Duration(connection) * f.interval / time.Duration(connections))
	var reply []byte
	for n := 0; ; n++ {
		if f.interval > 0 {
			if wait := time.Until(due); wait > 0 {
				select {
				case <-f.stop:
					return
				case <-time.After(wait):
				}
			}
			due = due.Add(f.interval)
		}
		select {
		case <-f.stop:
			return
		default:
		}
		which := n % distinctRequests
		stamp := uint32(f.sends.Add(1))
		for _, end := range ends[which] {
			binary.BigEndian.PutUint32(requests[which][end-4:end], stamp)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := conn.Invoke(ctx, exportMethod, &requests[which], &reply, grpc.ForceCodec(rawCodec{}))
		cancel()
		f.sent.Add(f.batch)
		if err != nil {
			f.refused.Add(1)
			continue
		}
		if f.accepted.Add(f.batch) >= f.spans && f.spans > 0 {
			f.halt()
		}
	}
}

func waitReady(conn *grpc.ClientConn, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn.Connect()
	for state := conn.GetState(); state != connectivity.Ready; state = conn.GetState() {
		if !conn.WaitForStateChange(ctx, state) {
			return false
		}
	}
	return true
}

func main() {
	target := flag.String("target", "", "the collector's OTLP/gRPC address, HOST:PORT")
	rate := flag.Float64("spans-per-second", 0, "0: as fast as it goes")
	batch := flag.Int("batch", 512, "spans per export")
	connections := flag.Int("connections", 4, "concurrent exporters")
	seconds := flag.Float64("seconds", 0, "default: until stdin closes")
	spans := flag.Int64("spans", 0, "stop once this many spans were accepted")
	readyTimeout := flag.Float64("ready-timeout", 120, "seconds to wait for the collector to listen")
	flag.Parse()
	if *target == "" {
		fmt.Fprintln(os.Stderr, "flooder_go: --target HOST:PORT is required")
		os.Exit(2)
	}
	f := &flood{batch: int64(*batch), spans: *spans, stop: make(chan struct{})}
	if *rate > 0 {
		f.interval = time.Duration(float64(*connections) * float64(*batch) / *rate * float64(time.Second))
	}
	conns := make([]*grpc.ClientConn, *connections)
	for i := range conns {
		conn, err := grpc.NewClient(*target, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithLocalDNSResolution())
		if err != nil {
			fmt.Fprintf(os.Stderr, "flooder_go: %v\n", err)
			os.Exit(2)
		}
		if !waitReady(conn, time.Duration(*readyTimeout*float64(time.Second))) {
			fmt.Fprintf(os.Stderr, "flooder_go: nothing listens on %s after %gs\n", *target, *readyTimeout)
			os.Exit(1)
		}
		conns[i] = conn
	}
	started := time.Now()
	var senders sync.WaitGroup
	for i, conn := range conns {
		senders.Add(1)
		go func() { defer senders.Done(); f.send(conn, i, len(conns)) }()
	}
	switch {
	case *seconds > 0:
		select {
		case <-f.stop:
		case <-time.After(time.Duration(*seconds * float64(time.Second))):
		}
	case *spans > 0:
		<-f.stop
	default:
		_, _ = bufio.NewReader(os.Stdin).ReadString(0) // until the bench closes it
	}
	f.halt()
	senders.Wait()
	elapsed := time.Since(started).Seconds()
	out, _ := json.Marshal(map[string]any{
		"spans_sent": f.sent.Load(), "spans_accepted": f.accepted.Load(), "exports_refused": f.refused.Load(),
		"seconds": float64(int(elapsed*1000)) / 1000, "spans_per_second": int64(float64(f.accepted.Load()) / elapsed),
	})
	fmt.Println(string(out))
}

// Command reference-go is the Go reference service of the conformance suite:
// conformance.v1.Conformance and grpc.health.v1.Health on 127.0.0.1:$PORT,
// traced and measured by otelgrpc's stats handlers, exporting traces, metrics
// and logs over OTLP as the standard OTEL_* variables say.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sort"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	pb "conformance.example/reference/go/internal/gen/conformancev1"
	"conformance.example/reference/go/telemetry"
)

// version is the service.version the service reports; build.sh may set it
// with -ldflags "-X main.version=...".
var version = "1.0.0"

func main() {
	os.Exit(run())
}

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	tel, err := telemetry.Setup(ctx, telemetry.Config{ServiceVersion: version})
	if err != nil {
		fmt.Fprintf(os.Stderr, "telemetry setup: %v\n", err)
		return 1
	}
	flush := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tel.Shutdown(sctx); err != nil {
			fmt.Fprintf(os.Stderr, "telemetry shutdown: %v\n", err)
		}
	}

	port := os.Getenv("PORT")
	if port == "" {
		port = "50051"
	}
	address := net.JoinHostPort("127.0.0.1", port)
	lis, err := net.Listen("tcp", address)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cannot bind %s: %v\n", address, err)
		flush()
		return 1
	}

	// otelgrpc (wrapped by telemetry) uses the global providers and propagator that Setup installed.
	options := append([]grpc.ServerOption{grpc.StatsHandler(telemetry.ServerHandler())}, serverOptions(tel.Resource != nil)...)
	creds, err := tlsServerOption()
	if err != nil {
		fmt.Fprintf(os.Stderr, "tls: %v\n", err)
		flush()
		return 1
	}
	if creds != nil {
		options = append(options, creds)
	}
	server := grpc.NewServer(options...)
	svc := newConformance(tel.Logger)
	pb.RegisterConformanceServer(server, svc)
	healthSrv := health.NewServer()
	healthpb.RegisterHealthServer(server, healthSrv)

	served := make(chan error, 1)
	go func() { served <- server.Serve(lis) }()
	healthSrv.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	tel.Logger.Info("serving", "address", address, "version", version)

	code := 0
	select {
	case <-ctx.Done():
	case err := <-served:
		fmt.Fprintf(os.Stderr, "serve: %v\n", err)
		code = 1
	}
	stop()

	// Stop accepting calls, let running ones finish for a while, then flush.
	healthSrv.Shutdown()
	stopped := make(chan struct{})
	go func() { server.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(3 * time.Second):
		server.Stop()
	}
	svc.close()
	flush()
	return code
}

type conformance struct {
	pb.UnimplementedConformanceServer
	log *slog.Logger

	mu      sync.Mutex
	clients map[string]*grpc.ClientConn
}

func newConformance(log *slog.Logger) *conformance {
	return &conformance{log: log, clients: map[string]*grpc.ClientConn{}}
}

func (s *conformance) Echo(_ context.Context, req *pb.EchoRequest) (*pb.EchoResponse, error) {
	return &pb.EchoResponse{Payload: req.GetPayload()}, nil
}

func (s *conformance) Fail(_ context.Context, req *pb.FailRequest) (*pb.FailResponse, error) {
	return nil, failWith("Fail", req.GetCode(), req.GetMessage())
}

// failWith is the status Fail and Chain end with: code, unless it is not a
// non-OK status code, which is the caller's mistake.
func failWith(method string, code uint32, message string) error {
	if code < 1 || code > 16 {
		return status.Errorf(codes.InvalidArgument, "%s needs a non-OK code 1..16, got %d", method, code)
	}
	return status.Error(codes.Code(code), message)
}

// downstream returns a client for address, instrumented by otelgrpc's client
// stats handler (client span, context injection, rpc.client.call.duration).
func (s *conformance) downstream(address string) (pb.ConformanceClient, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	conn, ok := s.clients[address]
	if !ok {
		var err error
		conn, err = grpc.NewClient(address,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithStatsHandler(telemetry.ClientHandler()))
		if err != nil {
			return nil, err
		}
		s.clients[address] = conn
	}
	return pb.NewConformanceClient(conn), nil
}

func (s *conformance) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for address, conn := range s.clients {
		_ = conn.Close()
		delete(s.clients, address)
	}
}

func (s *conformance) Relay(ctx context.Context, req *pb.RelayRequest) (*pb.RelayResponse, error) {
	client, err := s.downstream(req.GetDownstream())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "downstream %q: %v", req.GetDownstream(), err)
	}
	calls := max(req.GetCalls(), 1)
	resp := &pb.RelayResponse{}
	for range calls {
		// ctx is the server call's context: the server span is active in it,
		// and its deadline and cancellation carry over to the outgoing call.
		out, err := client.Echo(ctx, &pb.EchoRequest{Payload: req.GetPayload()})
		if err != nil {
			return nil, downstreamError(err)
		}
		resp.Payloads = append(resp.Payloads, out.GetPayload())
	}
	return resp, nil
}

// downstreamError ends the call with a failed downstream call's code, so the
// code travels back up a chain unchanged.
func downstreamError(err error) error {
	st := status.Convert(err)
	return status.Error(st.Code(), "downstream: "+st.Message())
}

func (s *conformance) Chain(ctx context.Context, req *pb.ChainRequest) (*pb.ChainResponse, error) {
	// ctx carries the server span, as in Log and Relay: the record gets its
	// ids, and the outgoing call is its child with the deadline carried over.
	if msg := req.GetLogMessage(); msg != "" {
		s.log.LogAttrs(ctx, slog.LevelInfo, msg)
	}
	if c := req.GetFailCode(); c != 0 {
		return nil, failWith("Chain", c, "chain failure")
	}
	next := req.GetNext()
	if len(next) == 0 {
		return &pb.ChainResponse{Payload: req.GetPayload()}, nil
	}
	client, err := s.downstream(next[0].GetAddress())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "next hop %q: %v", next[0].GetAddress(), err)
	}
	// The last entry is the suite's downstream, which need not implement Chain.
	if len(next) == 1 {
		out, err := client.Echo(ctx, &pb.EchoRequest{Payload: req.GetPayload()})
		if err != nil {
			return nil, downstreamError(err)
		}
		return &pb.ChainResponse{Payload: out.GetPayload()}, nil
	}
	out, err := client.Chain(ctx, &pb.ChainRequest{
		Payload:    req.GetPayload(),
		FailCode:   next[0].GetFailCode(),
		LogMessage: next[0].GetLogMessage(),
		Next:       next[1:],
	})
	if err != nil {
		return nil, downstreamError(err)
	}
	return &pb.ChainResponse{Payload: out.GetPayload()}, nil
}

var levels = map[pb.Severity]slog.Level{
	pb.Severity_SEVERITY_DEBUG: slog.LevelDebug,
	pb.Severity_SEVERITY_INFO:  slog.LevelInfo,
	pb.Severity_SEVERITY_WARN:  slog.LevelWarn,
	pb.Severity_SEVERITY_ERROR: slog.LevelError,
}

func (s *conformance) Log(ctx context.Context, req *pb.LogRequest) (*pb.LogResponse, error) {
	level, ok := levels[req.GetSeverity()]
	if !ok {
		level = slog.LevelInfo
	}
	keys := make([]string, 0, len(req.GetAttributes()))
	for k := range req.GetAttributes() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	attrs := make([]slog.Attr, 0, len(keys))
	for _, k := range keys {
		attrs = append(attrs, slog.String(k, req.GetAttributes()[k]))
	}
	// ctx carries the server span: otelslog and the JSON lines take the
	// trace and span ids from it.
	s.log.LogAttrs(ctx, level, req.GetMessage(), attrs...)
	return &pb.LogResponse{}, nil
}

func (s *conformance) Sleep(ctx context.Context, req *pb.SleepRequest) (*pb.SleepResponse, error) {
	timer := time.NewTimer(time.Duration(req.GetDurationMs()) * time.Millisecond)
	defer timer.Stop()
	select {
	case <-timer.C:
		return &pb.SleepResponse{}, nil
	case <-ctx.Done():
		// Cancelled by the caller or past its deadline: end with that status.
		err := ctx.Err()
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, status.Error(codes.DeadlineExceeded, "deadline exceeded while sleeping")
		}
		return nil, status.Error(codes.Canceled, "cancelled while sleeping")
	}
}

func (s *conformance) StreamEcho(req *pb.StreamEchoRequest, stream grpc.ServerStreamingServer[pb.EchoResponse]) error {
	for range req.GetCount() {
		if err := stream.Send(&pb.EchoResponse{Payload: req.GetPayload()}); err != nil {
			return err
		}
	}
	return nil
}

// Command greeter is an ordinary gRPC service, greeter.v1.Greeter on
// 127.0.0.1:$PORT, instrumented only with stock upstream OpenTelemetry:
// otelgrpc's stats handlers on server and client, and slog bridged by otelslog.
// It knows nothing of the conformance suite's control contract.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	pb "conformance.example/reference/go_greeter/internal/gen/greeter/v1"
	"conformance.example/reference/go_greeter/telemetry"
)

// version is service.version; build.sh sets it with -ldflags "-X main.version=...".
var version = "1.0.0"

func main() {
	os.Exit(run())
}

func run() int {
	m, err := mutantFromEnv()
	if err != nil {
		fmt.Fprintf(os.Stderr, "greeter: %v\n", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	tel, err := telemetry.Setup(ctx, telemetry.Config{ServiceVersion: version, SkipPropagator: m.skipPropagator})
	if err != nil {
		fmt.Fprintf(os.Stderr, "greeter: telemetry: %v\n", err)
		return 1
	}
	// Bounded, so an unreachable collector cannot hold the exit for long.
	flush := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tel.Shutdown(sctx); err != nil {
			fmt.Fprintf(os.Stderr, "greeter: telemetry shutdown: %v\n", err)
		}
	}
	defer flush()

	svc := &greeter{log: tel.Logger}
	if address := os.Getenv("GREETER_DEPENDENCY_ADDRESS"); address != "" {
		// NewClient does not dial: an absent dependency only fails RelayHello.
		conn, err := grpc.NewClient(address,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithStatsHandler(otelgrpc.NewClientHandler()))
		if err != nil {
			fmt.Fprintf(os.Stderr, "greeter: GREETER_DEPENDENCY_ADDRESS=%q: %v\n", address, err)
			return 1
		}
		defer conn.Close()
		svc.dependency = pb.NewGreeterClient(conn)
	}

	port := os.Getenv("PORT")
	if port == "" {
		port = "50051"
	}
	address := net.JoinHostPort("127.0.0.1", port)
	lis, err := net.Listen("tcp", address)
	if err != nil {
		fmt.Fprintf(os.Stderr, "greeter: cannot listen on %s: %v\n", address, err)
		return 1
	}

	server := grpc.NewServer(grpc.StatsHandler(otelgrpc.NewServerHandler()))
	pb.RegisterGreeterServer(server, svc)
	healthSrv := health.NewServer()
	healthpb.RegisterHealthServer(server, healthSrv)
	healthSrv.SetServingStatus(pb.Greeter_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	reflection.Register(server)

	served := make(chan error, 1)
	go func() { served <- server.Serve(lis) }()
	fmt.Fprintf(os.Stderr, "greeter %s listening on %s\n", version, address)

	code := 0
	select {
	case <-ctx.Done():
	case err := <-served:
		fmt.Fprintf(os.Stderr, "greeter: serve: %v\n", err)
		code = 1
	}
	stop()

	// Let running calls finish (their spans end) before the deferred flush.
	healthSrv.Shutdown()
	stopped := make(chan struct{})
	go func() { server.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(3 * time.Second):
		server.Stop()
	}
	return code
}

type greeter struct {
	pb.UnimplementedGreeterServer
	log        *slog.Logger
	dependency pb.GreeterClient // nil without GREETER_DEPENDENCY_ADDRESS
}

func (g *greeter) SayHello(ctx context.Context, req *pb.HelloRequest) (*pb.HelloReply, error) {
	// The call's context carries the server span, which otelslog copies into
	// the record's trace and span ids.
	if req.GetName() == "" {
		g.log.WarnContext(ctx, "rejected greeting", "reason", "name is required")
		return nil, status.Error(codes.InvalidArgument, "name is required")
	}
	g.log.InfoContext(ctx, "greeted", "name", req.GetName())
	return &pb.HelloReply{Message: "Hello, " + req.GetName()}, nil
}

func (g *greeter) RelayHello(ctx context.Context, req *pb.HelloRequest) (*pb.HelloReply, error) {
	if g.dependency == nil {
		return nil, status.Error(codes.FailedPrecondition, "GREETER_DEPENDENCY_ADDRESS is not set")
	}
	// ctx makes the client span a child of the server span, carries the
	// deadline, and is what the propagator injects from.
	reply, err := g.dependency.SayHello(ctx, req)
	if err != nil {
		st := status.Convert(err)
		return nil, status.Error(st.Code(), "dependency: "+st.Message())
	}
	return &pb.HelloReply{Message: "relayed: " + reply.GetMessage()}, nil
}

// C++ reference target of the conformance suite: conformance.v1.Conformance
// and grpc.health.v1.Health on 127.0.0.1:$PORT, traced through grpc++
// interceptors and the otelc C library.
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "conformance_service.h"
#include "grpc_tracing.h"
#include "telemetry.h"

#ifndef SERVICE_VERSION
#define SERVICE_VERSION "0.0.0"
#endif

namespace {

// Port from --port N / --port=N, else $PORT.
int ParsePort(int argc, char** argv) {
  const char* value = std::getenv("PORT");
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      value = argv[++i];
    } else if (std::strncmp(argv[i], "--port=", 7) == 0) {
      value = argv[i] + 7;
    } else {
      std::fprintf(stderr, "usage: %s [--port N]   (or PORT=N)\n", argv[0]);
      return -1;
    }
  }
  if (value == nullptr || *value == '\0') {
    std::fprintf(stderr, "PORT is not set (give PORT=N or --port N)\n");
    return -1;
  }
  char* end = nullptr;
  long port = std::strtol(value, &end, 10);
  if (*end != '\0' || port <= 0 || port > 65535) {
    std::fprintf(stderr, "invalid port: %s\n", value);
    return -1;
  }
  return static_cast<int>(port);
}

}  // namespace

int main(int argc, char** argv) {
  const int port = ParsePort(argc, argv);
  if (port < 0) return 2;

  // SIGTERM/SIGINT are taken synchronously by one thread (sigwait); block them
  // before any other thread exists so that every thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto telemetry = conformance_cpp::Telemetry::Setup(SERVICE_VERSION);
  if (!telemetry) {
    std::fprintf(stderr, "telemetry setup failed\n");
    return 1;
  }

  conformance_cpp::ConformanceService service(telemetry->sdk());
  grpc::EnableDefaultHealthCheckService(true);

  const std::string address = "127.0.0.1:" + std::to_string(port);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials());
  // gRPC C-core refuses request metadata over 8 KiB (at random, between its soft and hard
  // limits), which would drop the 8,192 bytes of baggage W3C Baggage requires to propagate.
  builder.AddChannelArgument("grpc.max_metadata_size", 64 * 1024);
  builder.AddChannelArgument("grpc.absolute_max_metadata_size", 64 * 1024);
  builder.RegisterService(&service);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> factories;
  factories.push_back(
      std::make_unique<conformance_cpp::ServerTracingInterceptorFactory>(telemetry->sdk()));
  builder.experimental().SetInterceptorCreators(std::move(factories));

  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) {
    std::fprintf(stderr, "cannot listen on %s\n", address.c_str());
    return 1;
  }
  server->GetHealthCheckService()->SetServingStatus(true);
  std::fprintf(stderr, "conformance-cpp: serving on %s\n", address.c_str());

  std::thread stopper([&server, &stop_signals] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    std::fprintf(stderr, "conformance-cpp: signal %d, shutting down\n", sig);
    // Stop accepting calls; in-flight calls get 2 s, then are cancelled.
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  });

  server->Wait();
  stopper.join();
  server.reset();
  // Force-flush traces, metrics and logs and stop the exporter; together with
  // the server's grace period this stays well under the 10 s the contract allows.
  const bool flushed = telemetry->Shutdown(std::chrono::milliseconds(6000));
  std::fprintf(stderr, "conformance-cpp: stopped\n");
  if (!flushed) {
    std::fflush(nullptr);
    std::_Exit(0);  // the exporter thread is still retrying: do not run destructors
  }
  return 0;
}

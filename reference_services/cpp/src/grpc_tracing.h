// gRPC instrumentation through grpc++'s interceptor API:
//  - a server interceptor that starts a SERVER span per incoming call
//    (context extracted from the metadata by otelc) and finishes it with the
//    status the handler sends;
//  - a client interceptor that starts a CLIENT span child of the thread's
//    active call, injects traceparent/tracestate/baggage into the outgoing
//    metadata and finishes it with the received status.
#ifndef CONFORMANCE_CPP_GRPC_TRACING_H
#define CONFORMANCE_CPP_GRPC_TRACING_H

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/client_interceptor.h>
#include <grpcpp/support/server_interceptor.h>
#include <otelc/otelc.h>

#include <memory>
#include <string>

#include "otelcpp.h"

namespace conformance_cpp {

class ServerTracingInterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit ServerTracingInterceptorFactory(otelc_sdk* sdk) : sdk_(sdk) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  otelc_sdk* sdk_;
};

class ClientTracingInterceptorFactory
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  // `target` is the channel target ("host:port"), used for server.address/port.
  ClientTracingInterceptorFactory(otelc_sdk* sdk, std::string target)
      : sdk_(sdk), target_(std::move(target)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override;

 private:
  otelc_sdk* sdk_;
  std::string target_;
};

// The traced call the server interceptor started for this server context
// (NULL when none, e.g. after it finished).
const otelc_rpc_call* ServerCallFor(const grpc::ServerContextBase* ctx);

// Makes the server span of `ctx` the thread's active context while a handler
// runs, so that logs and outgoing calls attach to it.
class ServerScope {
 public:
  explicit ServerScope(const grpc::ServerContextBase* ctx) : scope_(ServerCallFor(ctx)) {}

 private:
  otelcpp::ContextScope scope_;
};

// A plaintext channel whose calls are traced by the client interceptor.
std::shared_ptr<grpc::Channel> MakeTracedChannel(otelc_sdk* sdk, const std::string& target);

}  // namespace conformance_cpp

#endif

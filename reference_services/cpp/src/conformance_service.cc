#include "conformance_service.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <thread>

#include "grpc_tracing.h"
#include "otelcpp.h"

namespace conformance_cpp {

using conformance::v1::EchoRequest;
using conformance::v1::EchoResponse;
using std::chrono::system_clock;

namespace {
constexpr auto kRelayDefaultTimeout = std::chrono::seconds(30);
constexpr auto kSleepPoll = std::chrono::milliseconds(5);
}  // namespace

grpc::Status ConformanceService::Echo(grpc::ServerContext* ctx, const EchoRequest* req,
                                      EchoResponse* resp) {
  ServerScope scope(ctx);
  resp->set_payload(req->payload());
  return grpc::Status::OK;
}

grpc::Status ConformanceService::Fail(grpc::ServerContext* ctx,
                                      const conformance::v1::FailRequest* req,
                                      conformance::v1::FailResponse* /*resp*/) {
  ServerScope scope(ctx);
  if (req->code() < 1 || req->code() > 16) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "code must be a grpc status code in 1..16");
  }
  return grpc::Status(static_cast<grpc::StatusCode>(req->code()), req->message());
}

grpc::Status ConformanceService::Relay(grpc::ServerContext* ctx,
                                       const conformance::v1::RelayRequest* req,
                                       conformance::v1::RelayResponse* resp) {
  ServerScope scope(ctx);
  if (req->downstream().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "downstream is required");
  }
  // The channel's interceptor makes each call a CLIENT span child of this
  // call's SERVER span and injects its context.
  auto channel = MakeTracedChannel(sdk_, req->downstream());
  auto stub = conformance::v1::Conformance::NewStub(channel);
  const uint32_t calls = std::max<uint32_t>(req->calls(), 1);
  for (uint32_t i = 0; i < calls; ++i) {
    grpc::ClientContext client_ctx;
    // The incoming deadline bounds the outgoing calls.
    client_ctx.set_deadline(std::min(ctx->deadline(), system_clock::now() + kRelayDefaultTimeout));
    EchoRequest down_req;
    down_req.set_payload(req->payload());
    EchoResponse down_resp;
    grpc::Status status = stub->Echo(&client_ctx, down_req, &down_resp);
    if (!status.ok()) return grpc::Status(status.error_code(), status.error_message());
    resp->add_payloads(down_resp.payload());
  }
  return grpc::Status::OK;
}

grpc::Status ConformanceService::Log(grpc::ServerContext* ctx,
                                     const conformance::v1::LogRequest* req,
                                     conformance::v1::LogResponse* /*resp*/) {
  ServerScope scope(ctx);
  std::map<std::string, std::string> attrs(req->attributes().begin(), req->attributes().end());
  otelcpp::Log(sdk_, static_cast<int>(req->severity()), req->message(), attrs);
  return grpc::Status::OK;
}

grpc::Status ConformanceService::Sleep(grpc::ServerContext* ctx,
                                       const conformance::v1::SleepRequest* req,
                                       conformance::v1::SleepResponse* /*resp*/) {
  ServerScope scope(ctx);
  const auto until = system_clock::now() + std::chrono::milliseconds(req->duration_ms());
  for (;;) {
    const auto now = system_clock::now();
    if (now >= until) return grpc::Status::OK;
    if (now >= ctx->deadline()) {
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline exceeded while sleeping");
    }
    if (ctx->IsCancelled()) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled while sleeping");
    }
    std::this_thread::sleep_for(std::min<system_clock::duration>(
        {kSleepPoll, until - now, std::max<system_clock::duration>(ctx->deadline() - now, {})}));
  }
}

grpc::Status ConformanceService::StreamEcho(grpc::ServerContext* ctx,
                                            const conformance::v1::StreamEchoRequest* req,
                                            grpc::ServerWriter<EchoResponse>* writer) {
  ServerScope scope(ctx);
  EchoResponse msg;
  msg.set_payload(req->payload());
  for (uint32_t i = 0; i < req->count(); ++i) {
    if (!writer->Write(msg)) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "stream closed by the client");
    }
  }
  return grpc::Status::OK;
}

}  // namespace conformance_cpp

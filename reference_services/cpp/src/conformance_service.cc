#include "conformance_service.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "grpc_tracing.h"
#include "otelcpp.h"

namespace conformance_cpp {

using conformance::v1::EchoRequest;
using conformance::v1::EchoResponse;
using std::chrono::system_clock;

namespace {
constexpr auto kDownstreamTimeout = std::chrono::seconds(30);
constexpr auto kSleepPoll = std::chrono::milliseconds(5);

using Stub = conformance::v1::Conformance::Stub;

// Ends the call with a status the request chose; a code that is no error is
// the caller's mistake, not a status to send.
grpc::Status RequestedStatus(const char* field, uint32_t code, const std::string& message) {
  if (code < 1 || code > 16) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        std::string(field) + " must be a grpc status code in 1..16");
  }
  return grpc::Status(static_cast<grpc::StatusCode>(code), message);
}

// The channel's interceptor makes each call of this stub a CLIENT span child
// of the thread's active SERVER span and injects its context.
std::unique_ptr<Stub> DownstreamStub(otelc_sdk* sdk, const std::string& address) {
  return conformance::v1::Conformance::NewStub(MakeTracedChannel(sdk, address));
}

// One outgoing unary call made while serving `ctx`. The incoming deadline
// bounds it, and a failure ends the caller with the downstream's code and
// message (its details and trailers stay behind).
template <typename Req, typename Resp>
grpc::Status CallDownstream(const grpc::ServerContext* ctx, Stub* stub,
                            grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                            const Req& req, Resp* resp) {
  grpc::ClientContext client_ctx;
  client_ctx.set_deadline(std::min(ctx->deadline(), system_clock::now() + kDownstreamTimeout));
  grpc::Status status = (stub->*method)(&client_ctx, req, resp);
  if (!status.ok()) return grpc::Status(status.error_code(), status.error_message());
  return grpc::Status::OK;
}
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
  return RequestedStatus("code", req->code(), req->message());
}

grpc::Status ConformanceService::Relay(grpc::ServerContext* ctx,
                                       const conformance::v1::RelayRequest* req,
                                       conformance::v1::RelayResponse* resp) {
  ServerScope scope(ctx);
  if (req->downstream().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "downstream is required");
  }
  auto stub = DownstreamStub(sdk_, req->downstream());
  EchoRequest down_req;
  down_req.set_payload(req->payload());
  const uint32_t calls = std::max<uint32_t>(req->calls(), 1);
  for (uint32_t i = 0; i < calls; ++i) {
    EchoResponse down_resp;
    grpc::Status status = CallDownstream(ctx, stub.get(), &Stub::Echo, down_req, &down_resp);
    if (!status.ok()) return status;
    resp->add_payloads(down_resp.payload());
  }
  return grpc::Status::OK;
}

grpc::Status ConformanceService::Chain(grpc::ServerContext* ctx,
                                       const conformance::v1::ChainRequest* req,
                                       conformance::v1::ChainResponse* resp) {
  ServerScope scope(ctx);
  if (!req->log_message().empty()) {
    otelcpp::Log(sdk_, static_cast<int>(conformance::v1::SEVERITY_INFO), req->log_message());
  }
  if (req->fail_code() != 0) return RequestedStatus("fail_code", req->fail_code(), "chain failure");
  if (req->next().empty()) {
    resp->set_payload(req->payload());
    return grpc::Status::OK;
  }
  const conformance::v1::Hop& hop = req->next(0);
  if (hop.address().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "next[0].address is required");
  }
  auto stub = DownstreamStub(sdk_, hop.address());
  // The last entry is the suite's downstream, which need not implement Chain.
  if (req->next_size() == 1) {
    EchoRequest down_req;
    down_req.set_payload(req->payload());
    EchoResponse down_resp;
    grpc::Status status = CallDownstream(ctx, stub.get(), &Stub::Echo, down_req, &down_resp);
    if (status.ok()) resp->set_payload(down_resp.payload());
    return status;
  }
  conformance::v1::ChainRequest down_req;
  down_req.set_payload(req->payload());
  down_req.set_fail_code(hop.fail_code());
  down_req.set_log_message(hop.log_message());
  down_req.mutable_next()->CopyFrom(req->next());
  down_req.mutable_next()->DeleteSubrange(0, 1);
  return CallDownstream(ctx, stub.get(), &Stub::Chain, down_req, resp);
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

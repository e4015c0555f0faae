#include "grpc_tracing.h"

#include <chrono>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

namespace conformance_cpp {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::InterceptorBatchMethods;

namespace {

// Server context -> the call traced for it. The handler looks its call up
// here, because grpc++ gives interceptors no per-call storage of their own.
class CallRegistry {
 public:
  void Put(const grpc::ServerContextBase* ctx, const otelc_rpc_call* call) {
    std::lock_guard<std::mutex> lock(mu_);
    calls_[ctx] = call;
  }
  void Remove(const grpc::ServerContextBase* ctx) {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.erase(ctx);
  }
  const otelc_rpc_call* Find(const grpc::ServerContextBase* ctx) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = calls_.find(ctx);
    return it == calls_.end() ? nullptr : it->second;
  }

 private:
  std::mutex mu_;
  std::unordered_map<const grpc::ServerContextBase*, const otelc_rpc_call*> calls_;
};

CallRegistry& Registry() {
  static CallRegistry* registry = new CallRegistry();  // never destroyed
  return *registry;
}

class ServerTracingInterceptor : public grpc::experimental::Interceptor {
 public:
  ServerTracingInterceptor(otelc_sdk* sdk, grpc::experimental::ServerRpcInfo* info)
      : sdk_(sdk), ctx_(info->server_context()), method_(info->method()) {}

  // The status code a server span records. A call the client cancelled (or
  // whose deadline passed) before the handler could answer is failed by grpc++
  // with whatever the aborted step produced (e.g. INTERNAL when the request
  // could not be read: grpc++ answers INTERNAL "Couldn't initialize byte
  // buffer reader"); the code the peer actually sees is CANCELLED or
  // DEADLINE_EXCEEDED, and that is what the span records.
  int RecordedCode(const grpc::Status& status) const {
    const bool abandoned = ctx_->IsCancelled() ||
                           (request_missing_ && status.error_code() == grpc::StatusCode::INTERNAL);
    if (status.ok() || !abandoned) return static_cast<int>(status.error_code());
    return std::chrono::system_clock::now() >= ctx_->deadline()
               ? static_cast<int>(grpc::StatusCode::DEADLINE_EXCEEDED)
               : static_cast<int>(grpc::StatusCode::CANCELLED);
  }

  ~ServerTracingInterceptor() override {
    // Normally finished at PRE_SEND_STATUS; a call torn down without sending
    // a status (cancelled) is finished here with CANCELLED by RpcCall.
    Registry().Remove(ctx_);
  }

  void Intercept(InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      auto* md = methods->GetRecvInitialMetadata();
      std::vector<otelc_header> headers;
      if (md != nullptr) headers = otelcpp::HeadersFrom(*md);
      call_ = otelcpp::RpcCall::StartServer(sdk_, method_, headers);
      if (call_) Registry().Put(ctx_, call_.get());
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      // NULL: the request never arrived (the client went away first).
      request_missing_ = methods->GetRecvMessage() == nullptr;
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status status = methods->GetSendStatus();
      Registry().Remove(ctx_);
      call_.Finish(RecordedCode(status), status.error_message());
    }
    methods->Proceed();
  }

 private:
  otelc_sdk* sdk_;
  const grpc::ServerContextBase* ctx_;
  std::string method_;
  bool request_missing_ = false;
  otelcpp::RpcCall call_;
};

class ClientTracingInterceptor : public grpc::experimental::Interceptor {
 public:
  ClientTracingInterceptor(otelc_sdk* sdk, const otelc_rpc_call* parent, std::string method,
                           const std::string& target)
      : sdk_(sdk), parent_(parent), method_(std::move(method)), target_(target) {}

  void Intercept(InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      call_ = otelcpp::RpcCall::StartClient(sdk_, parent_, method_, target_);
      call_.InjectInto(methods->GetSendInitialMetadata());
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_STATUS)) {
      const grpc::Status* status = methods->GetRecvStatus();
      if (status != nullptr) {
        call_.Finish(static_cast<int>(status->error_code()), status->error_message());
      }
    }
    methods->Proceed();
  }

 private:
  otelc_sdk* sdk_;
  const otelc_rpc_call* parent_;
  std::string method_;
  std::string target_;
  otelcpp::RpcCall call_;
};

}  // namespace

grpc::experimental::Interceptor* ServerTracingInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new ServerTracingInterceptor(sdk_, info);
}

grpc::experimental::Interceptor* ClientTracingInterceptorFactory::CreateClientInterceptor(
    grpc::experimental::ClientRpcInfo* info) {
  // Called on the thread that creates the call: the parent is the call that
  // thread is serving right now.
  return new ClientTracingInterceptor(sdk_, otelcpp::Current().call, info->method(), target_);
}

const otelc_rpc_call* ServerCallFor(const grpc::ServerContextBase* ctx) {
  return Registry().Find(ctx);
}

std::shared_ptr<grpc::Channel> MakeTracedChannel(otelc_sdk* sdk, const std::string& target) {
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> factories;
  factories.push_back(std::make_unique<ClientTracingInterceptorFactory>(sdk, target));
  return grpc::experimental::CreateCustomChannelWithInterceptors(
      target, grpc::InsecureChannelCredentials(), grpc::ChannelArguments(), std::move(factories));
}

}  // namespace conformance_cpp

// otelcpp: a small C++ RAII layer over the otelc C tracing library
// (reference_services/c/otelc). It owns no telemetry logic of its own: span
// creation, propagation, sampling, semantic conventions and export all live in
// otelc; this layer only ties otelc handles to C++ lifetimes and keeps the
// "active context" of the current thread.
//
//   RpcCall       owns an otelc_rpc_call (a SERVER or CLIENT span plus its
//                 duration metric); finishes it exactly once.
//   SpanGuard     owns a plain otelc_span; ends it exactly once.
//   ContextScope  makes a call or span the active context of this thread for
//                 its lifetime (nestable, restores the previous one).
//   Current()     the active context (what logs and outgoing calls attach to).
#ifndef OTELCPP_OTELCPP_H
#define OTELCPP_OTELCPP_H

#include <otelc/otelc.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace otelcpp {

// gRPC status codes used as defaults below (same numbers as grpc::StatusCode).
constexpr int kCodeOk = 0;
constexpr int kCodeCancelled = 1;

std::string TraceIdHex(const otelc_span_context& sc);
std::string SpanIdHex(const otelc_span_context& sc);
bool IsValid(const otelc_span_context& sc);

// Borrowed views of metadata entries, in the form otelc_extract reads.
// The strings must outlive the returned vector.
template <typename Multimap>
std::vector<otelc_header> HeadersFrom(const Multimap& md) {
  std::vector<otelc_header> out;
  out.reserve(md.size());
  for (const auto& kv : md) {
    out.push_back(otelc_header{kv.first.data(), kv.first.size(), kv.second.data(),
                               kv.second.size()});
  }
  return out;
}

// Owning handle of one traced RPC (otelc_rpc_call). Move-only.
class RpcCall {
 public:
  RpcCall() = default;
  explicit RpcCall(otelc_rpc_call* call) : call_(call) {}
  ~RpcCall();
  RpcCall(RpcCall&& other) noexcept;
  RpcCall& operator=(RpcCall&& other) noexcept;
  RpcCall(const RpcCall&) = delete;
  RpcCall& operator=(const RpcCall&) = delete;

  // SERVER span, child of the context extracted from `metadata`.
  static RpcCall StartServer(otelc_sdk* sdk, const std::string& full_method,
                             const std::vector<otelc_header>& metadata);
  // CLIENT span, child of `parent` (NULL => root), server.address/port from
  // `target`.
  static RpcCall StartClient(otelc_sdk* sdk, const otelc_rpc_call* parent,
                             const std::string& full_method, const std::string& target);

  explicit operator bool() const { return call_ != nullptr; }
  otelc_rpc_call* get() const { return call_; }
  otelc_span_context context() const;

  // Replaces traceparent/tracestate/baggage in `md` with this call's context.
  int InjectInto(std::multimap<std::string, std::string>* md) const;

  // Ends the span with `code` (sets rpc.grpc.status_code and the status) and
  // records the duration. Later calls are no-ops.
  void Finish(int code, const std::string& message);
  bool finished() const { return call_ == nullptr; }

  // Code used when the handle is destroyed without Finish (an RPC that ended
  // without a status was abandoned: CANCELLED by default).
  void set_abandon_code(int code) { abandon_code_ = code; }

 private:
  otelc_rpc_call* call_ = nullptr;
  int abandon_code_ = kCodeCancelled;
};

// Owning handle of a plain span. Move-only; ends the span on destruction.
class SpanGuard {
 public:
  SpanGuard() = default;
  SpanGuard(otelc_sdk* sdk, const std::string& name, otelc_span_kind kind,
            const otelc_span_context* parent, const otelc_tracestate* tracestate);
  // Child of the thread's active context (root when there is none).
  SpanGuard(otelc_sdk* sdk, const std::string& name,
            otelc_span_kind kind = OTELC_SPAN_KIND_INTERNAL);
  ~SpanGuard() { End(); }
  SpanGuard(SpanGuard&& other) noexcept : span_(std::exchange(other.span_, nullptr)) {}
  SpanGuard& operator=(SpanGuard&& other) noexcept;
  SpanGuard(const SpanGuard&) = delete;
  SpanGuard& operator=(const SpanGuard&) = delete;

  explicit operator bool() const { return span_ != nullptr; }
  otelc_span* get() const { return span_; }
  otelc_span_context context() const;

  void SetAttribute(const char* key, const std::string& value);
  void SetAttribute(const char* key, const char* value);
  void SetAttribute(const char* key, int64_t value);
  void SetAttribute(const char* key, double value);
  void SetAttribute(const char* key, bool value);
  void SetStatus(otelc_status_code code, const std::string& description = "");
  void AddEvent(const char* name);
  void End();

 private:
  otelc_span* span_ = nullptr;
};

// The active context of a thread: the innermost RPC call (the parent of
// outgoing calls) and the innermost span (what log records carry).
struct ActiveContext {
  const otelc_rpc_call* call = nullptr;
  otelc_span_context span{};
  const otelc_tracestate* tracestate = nullptr;  // of `span`, may be NULL
};

const ActiveContext& Current();

class ContextScope {
 public:
  explicit ContextScope(const otelc_rpc_call* call);  // NULL => no change
  explicit ContextScope(const RpcCall& call) : ContextScope(call.get()) {}
  explicit ContextScope(const SpanGuard& span);
  ~ContextScope();
  ContextScope(const ContextScope&) = delete;
  ContextScope& operator=(const ContextScope&) = delete;

 private:
  ActiveContext saved_;
};

// Owning otelc_attributes built from a string map.
class Attributes {
 public:
  Attributes() : attrs_(otelc_attributes_new()) {}
  explicit Attributes(const std::map<std::string, std::string>& kv);
  ~Attributes() { otelc_attributes_free(attrs_); }
  Attributes(const Attributes&) = delete;
  Attributes& operator=(const Attributes&) = delete;
  void Set(const std::string& key, const std::string& value);
  const otelc_attributes* get() const { return attrs_; }

 private:
  otelc_attributes* attrs_;
};

// Emits a log record correlated with the thread's active span (stdout JSON
// line + OTLP record, both by otelc).
void Log(otelc_sdk* sdk, int severity, const std::string& message,
         const std::map<std::string, std::string>& attributes = {});

}  // namespace otelcpp

#endif  // OTELCPP_OTELCPP_H

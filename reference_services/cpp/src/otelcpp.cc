#include "otelcpp.h"

namespace otelcpp {

namespace {
thread_local ActiveContext tls_active;

void MultimapSetter(void* carrier, const char* key, const char* value) {
  auto* md = static_cast<std::multimap<std::string, std::string>*>(carrier);
  md->emplace(key, value);
}
}  // namespace

std::string TraceIdHex(const otelc_span_context& sc) {
  char buf[33];
  otelc_trace_id_hex(&sc, buf);
  return buf;
}

std::string SpanIdHex(const otelc_span_context& sc) {
  char buf[17];
  otelc_span_id_hex(&sc, buf);
  return buf;
}

bool IsValid(const otelc_span_context& sc) { return otelc_span_context_is_valid(&sc); }

// ---- RpcCall ----

RpcCall::~RpcCall() {
  if (call_ != nullptr) otelc_rpc_finish(call_, abandon_code_, "call ended without a status");
}

RpcCall::RpcCall(RpcCall&& other) noexcept
    : call_(std::exchange(other.call_, nullptr)), abandon_code_(other.abandon_code_) {}

RpcCall& RpcCall::operator=(RpcCall&& other) noexcept {
  if (this != &other) {
    if (call_ != nullptr) otelc_rpc_finish(call_, abandon_code_, "call ended without a status");
    call_ = std::exchange(other.call_, nullptr);
    abandon_code_ = other.abandon_code_;
  }
  return *this;
}

RpcCall RpcCall::StartServer(otelc_sdk* sdk, const std::string& full_method,
                             const std::vector<otelc_header>& metadata) {
  return RpcCall(
      otelc_rpc_server_start(sdk, full_method.c_str(), metadata.data(), metadata.size()));
}

RpcCall RpcCall::StartClient(otelc_sdk* sdk, const otelc_rpc_call* parent,
                             const std::string& full_method, const std::string& target) {
  return RpcCall(otelc_rpc_client_start(sdk, parent, full_method.c_str(), target.c_str()));
}

otelc_span_context RpcCall::context() const {
  otelc_span_context sc{};
  if (call_ != nullptr) otelc_rpc_call_context(call_, &sc);
  return sc;
}

int RpcCall::InjectInto(std::multimap<std::string, std::string>* md) const {
  if (call_ == nullptr || md == nullptr) return 0;
  // Whatever the application put there by hand is replaced, never duplicated.
  for (const char* key : {"traceparent", "tracestate", "baggage"}) md->erase(key);
  return otelc_rpc_inject(call_, MultimapSetter, md);
}

void RpcCall::Finish(int code, const std::string& message) {
  if (call_ == nullptr) return;
  otelc_rpc_finish(std::exchange(call_, nullptr), code, message.c_str());
}

// ---- SpanGuard ----

SpanGuard::SpanGuard(otelc_sdk* sdk, const std::string& name, otelc_span_kind kind,
                     const otelc_span_context* parent, const otelc_tracestate* tracestate)
    : span_(otelc_span_start(sdk, name.c_str(), kind, parent, tracestate)) {}

SpanGuard::SpanGuard(otelc_sdk* sdk, const std::string& name, otelc_span_kind kind)
    : SpanGuard(sdk, name, kind, &Current().span, Current().tracestate) {}

SpanGuard& SpanGuard::operator=(SpanGuard&& other) noexcept {
  if (this != &other) {
    End();
    span_ = std::exchange(other.span_, nullptr);
  }
  return *this;
}

otelc_span_context SpanGuard::context() const {
  otelc_span_context sc{};
  if (span_ != nullptr) otelc_span_get_context(span_, &sc);
  return sc;
}

void SpanGuard::SetAttribute(const char* key, const std::string& value) {
  SetAttribute(key, value.c_str());
}
void SpanGuard::SetAttribute(const char* key, const char* value) {
  if (span_ != nullptr) otelc_span_set_attr_str(span_, key, value);
}
void SpanGuard::SetAttribute(const char* key, int64_t value) {
  if (span_ != nullptr) otelc_span_set_attr_int(span_, key, value);
}
void SpanGuard::SetAttribute(const char* key, double value) {
  if (span_ != nullptr) otelc_span_set_attr_double(span_, key, value);
}
void SpanGuard::SetAttribute(const char* key, bool value) {
  if (span_ != nullptr) otelc_span_set_attr_bool(span_, key, value);
}
void SpanGuard::SetStatus(otelc_status_code code, const std::string& description) {
  if (span_ != nullptr) otelc_span_set_status(span_, code, description.c_str());
}
void SpanGuard::AddEvent(const char* name) {
  if (span_ != nullptr) otelc_span_add_event(span_, name, nullptr);
}
void SpanGuard::End() {
  if (span_ != nullptr) otelc_span_end(std::exchange(span_, nullptr));
}

// ---- active context ----

const ActiveContext& Current() { return tls_active; }

ContextScope::ContextScope(const otelc_rpc_call* call) : saved_(tls_active) {
  if (call == nullptr) return;
  tls_active.call = call;
  otelc_rpc_call_context(call, &tls_active.span);
  // otelc_rpc_call_span takes a non-const handle but only returns a pointer;
  // the span is only read here.
  tls_active.tracestate =
      otelc_span_tracestate(otelc_rpc_call_span(const_cast<otelc_rpc_call*>(call)));
}

ContextScope::ContextScope(const SpanGuard& span) : saved_(tls_active) {
  if (!span) return;
  tls_active.span = span.context();
  tls_active.tracestate = otelc_span_tracestate(span.get());
}

ContextScope::~ContextScope() { tls_active = saved_; }

// ---- attributes and logs ----

Attributes::Attributes(const std::map<std::string, std::string>& kv) : Attributes() {
  for (const auto& [k, v] : kv) Set(k, v);
}

void Attributes::Set(const std::string& key, const std::string& value) {
  if (attrs_ != nullptr) otelc_attributes_set_str(attrs_, key.c_str(), value.c_str());
}

void Log(otelc_sdk* sdk, int severity, const std::string& message,
         const std::map<std::string, std::string>& attributes) {
  Attributes attrs(attributes);
  const otelc_span_context& active = Current().span;
  otelc_log_emit(sdk, severity, message.c_str(), attrs.get(), IsValid(active) ? &active : nullptr);
}

}  // namespace otelcpp

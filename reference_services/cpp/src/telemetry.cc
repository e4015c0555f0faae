#include "telemetry.h"

#include <cstdio>

namespace conformance_cpp {

namespace {
constexpr char kScopeName[] = "conformance_cpp.grpc_interceptors";
}  // namespace

std::unique_ptr<Telemetry> Telemetry::Setup(const std::string& service_version) {
  otelc_config cfg;
  otelc_config_from_env(&cfg);  // every OTEL_* variable, nothing else
  // The instrumentation that produces the spans is the grpc++ interceptors.
  cfg.scope_name = kScopeName;
  otelc_sdk* sdk = otelc_sdk_new(&cfg, nullptr, service_version.c_str());
  if (sdk == nullptr) return nullptr;
  return std::unique_ptr<Telemetry>(new Telemetry(sdk));
}

std::string Telemetry::service_name() const {
  const char* name = sdk_ != nullptr ? otelc_sdk_service_name(sdk_) : nullptr;
  return name != nullptr ? name : "";
}

void Telemetry::Shutdown(uint32_t flush_timeout_ms) {
  if (sdk_ == nullptr) return;
  if (otelc_sdk_force_flush(sdk_, flush_timeout_ms) != OTELC_OK) {
    std::fprintf(stderr, "telemetry: flush did not finish within %u ms\n", flush_timeout_ms);
  }
  otelc_sdk_free(sdk_);  // shutdown: flushes again, stops the exporter thread
  sdk_ = nullptr;
}

}  // namespace conformance_cpp

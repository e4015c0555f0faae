#include "telemetry.h"

#include <algorithm>
#include <cstdio>
#include <future>
#include <thread>
#include <utility>

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
  // The RPC metrics alone cannot tell saturation (CPU, memory) from slowness;
  // a service without them still serves, so a failure here is only reported.
  if (otelc_process_metrics_register(sdk) != OTELC_OK) {
    std::fprintf(stderr, "telemetry: process metrics not registered\n");
  }
  return std::unique_ptr<Telemetry>(new Telemetry(sdk));
}

std::string Telemetry::service_name() const {
  const char* name = sdk_ != nullptr ? otelc_sdk_service_name(sdk_) : nullptr;
  return name != nullptr ? name : "";
}

bool Telemetry::Shutdown(std::chrono::milliseconds budget) {
  if (sdk_ == nullptr) return true;
  otelc_sdk* sdk = std::exchange(sdk_, nullptr);
  const auto deadline = std::chrono::steady_clock::now() + budget;

  if (otelc_sdk_force_flush(sdk, static_cast<uint32_t>(budget.count())) != OTELC_OK) {
    std::fprintf(stderr, "telemetry: flush did not finish within %lld ms\n",
                 static_cast<long long>(budget.count()));
  }
  // otelc_sdk_free joins the exporter thread, which may still be retrying an
  // unreachable collector: run it aside and wait no longer than the budget.
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> finished = done->get_future();
  std::thread([sdk, done] {
    otelc_sdk_free(sdk);
    done->set_value();
  }).detach();
  const auto remaining = std::max(deadline - std::chrono::steady_clock::now(),
                                  std::chrono::steady_clock::duration::zero());
  if (finished.wait_for(remaining) != std::future_status::ready) {
    std::fprintf(stderr, "telemetry: shutdown did not finish in time; giving up\n");
    return false;
  }
  return true;
}

}  // namespace conformance_cpp

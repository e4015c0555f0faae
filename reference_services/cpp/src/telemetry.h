// Telemetry setup: the only place that creates and shuts down the otelc SDK.
// Configuration comes from the standard OTEL_* environment variables only
// (read by otelc_config_from_env).
#ifndef CONFORMANCE_CPP_TELEMETRY_H
#define CONFORMANCE_CPP_TELEMETRY_H

#include <otelc/otelc.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace conformance_cpp {

class Telemetry {
 public:
  // Reads OTEL_* and starts the exporter. service.version is
  // `service_version`, whatever OTEL_RESOURCE_ATTRIBUTES says (the
  // environment only fills in what the service does not set); otelc supplies
  // a random service.instance.id. Returns nullptr when otelc cannot start.
  static std::unique_ptr<Telemetry> Setup(const std::string& service_version);

  ~Telemetry() { Shutdown(); }  // prefer calling Shutdown explicitly
  Telemetry(const Telemetry&) = delete;
  Telemetry& operator=(const Telemetry&) = delete;

  otelc_sdk* sdk() const { return sdk_; }
  std::string service_name() const;

  // Force-flushes traces, metrics and logs, then shuts otelc down (which
  // flushes what is left and stops the exporter thread), all within `budget`.
  // Returns false when that did not finish in time (collector unreachable:
  // otelc keeps retrying); the exporter thread is then left running and the
  // caller should exit the process without running destructors (std::_Exit).
  // Idempotent.
  bool Shutdown(std::chrono::milliseconds budget = std::chrono::milliseconds(6000));

 private:
  explicit Telemetry(otelc_sdk* sdk) : sdk_(sdk) {}
  otelc_sdk* sdk_;
};

}  // namespace conformance_cpp

#endif

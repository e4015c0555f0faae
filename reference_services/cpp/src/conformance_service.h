// conformance.v1.Conformance, the control contract the suite drives.
#ifndef CONFORMANCE_CPP_CONFORMANCE_SERVICE_H
#define CONFORMANCE_CPP_CONFORMANCE_SERVICE_H

#include <otelc/otelc.h>

#include "conformance_v1.grpc.pb.h"

namespace conformance_cpp {

class ConformanceService final : public conformance::v1::Conformance::Service {
 public:
  explicit ConformanceService(otelc_sdk* sdk) : sdk_(sdk) {}

  grpc::Status Echo(grpc::ServerContext* ctx, const conformance::v1::EchoRequest* req,
                    conformance::v1::EchoResponse* resp) override;
  grpc::Status Fail(grpc::ServerContext* ctx, const conformance::v1::FailRequest* req,
                    conformance::v1::FailResponse* resp) override;
  grpc::Status Relay(grpc::ServerContext* ctx, const conformance::v1::RelayRequest* req,
                     conformance::v1::RelayResponse* resp) override;
  grpc::Status Log(grpc::ServerContext* ctx, const conformance::v1::LogRequest* req,
                   conformance::v1::LogResponse* resp) override;
  grpc::Status Sleep(grpc::ServerContext* ctx, const conformance::v1::SleepRequest* req,
                     conformance::v1::SleepResponse* resp) override;
  grpc::Status StreamEcho(grpc::ServerContext* ctx,
                          const conformance::v1::StreamEchoRequest* req,
                          grpc::ServerWriter<conformance::v1::EchoResponse>* writer) override;
  grpc::Status Chain(grpc::ServerContext* ctx, const conformance::v1::ChainRequest* req,
                     conformance::v1::ChainResponse* resp) override;

 private:
  otelc_sdk* sdk_;
};

}  // namespace conformance_cpp

#endif

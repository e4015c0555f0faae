// Unit test of the otelcpp wrapper (RAII handles, active context) over the
// real otelc library. Nothing is exported: the endpoints point at a closed
// port and the SDK is freed without waiting for the network.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "otelcpp.h"

namespace {

const char kParentTrace[] = "0af7651916cd43dd8448eb211c80319c";
const char kParentSpan[] = "b7ad6b7169203331";
const std::string kTraceparent = std::string("00-") + kParentTrace + "-" + kParentSpan + "-01";
const char kMethod[] = "/conformance.v1.Conformance/Echo";

class OtelcppTest : public ::testing::Test {
 protected:
  void SetUp() override {
    otelc_config cfg;
    otelc_config_defaults(&cfg);
    cfg.traces_endpoint = "http://127.0.0.1:9/v1/traces";
    cfg.metrics_endpoint = "http://127.0.0.1:9/v1/metrics";
    cfg.logs_endpoint = "http://127.0.0.1:9/v1/logs";
    cfg.export_timeout_ms = 100;
    cfg.stdout_logs = false;
    sdk_ = otelc_sdk_new(&cfg, nullptr, "0.0.0-test");
    ASSERT_NE(sdk_, nullptr);
  }
  void TearDown() override { otelc_sdk_free(sdk_); }

  otelcpp::RpcCall Server(const std::multimap<std::string, std::string>& md) {
    return otelcpp::RpcCall::StartServer(sdk_, kMethod, otelcpp::HeadersFrom(md));
  }

  otelc_sdk* sdk_ = nullptr;
};

TEST_F(OtelcppTest, ServerCallContinuesIncomingTrace) {
  auto call = Server({{"traceparent", kTraceparent}});
  ASSERT_TRUE(call);
  otelc_span_context sc = call.context();
  EXPECT_EQ(otelcpp::TraceIdHex(sc), kParentTrace);
  EXPECT_NE(otelcpp::SpanIdHex(sc), kParentSpan);
  EXPECT_FALSE(sc.is_remote);
  call.Finish(0, "");
  EXPECT_TRUE(call.finished());
  call.Finish(0, "");  // second Finish is a no-op
}

TEST_F(OtelcppTest, DuplicatedTraceparentStartsNewTrace) {
  auto call = Server({{"traceparent", kTraceparent}, {"traceparent", kTraceparent}});
  otelc_span_context sc = call.context();
  EXPECT_TRUE(otelcpp::IsValid(sc));
  EXPECT_NE(otelcpp::TraceIdHex(sc), kParentTrace);
}

TEST_F(OtelcppTest, ContextScopeNestsAndRestores) {
  EXPECT_EQ(otelcpp::Current().call, nullptr);
  EXPECT_FALSE(otelcpp::IsValid(otelcpp::Current().span));
  auto call = Server({{"traceparent", kTraceparent}});
  {
    otelcpp::ContextScope outer(call);
    EXPECT_EQ(otelcpp::Current().call, call.get());
    EXPECT_EQ(otelcpp::SpanIdHex(otelcpp::Current().span), otelcpp::SpanIdHex(call.context()));
    {
      otelcpp::SpanGuard child(sdk_, "work");  // child of the active context
      otelc_span_context parent{};
      otelc_span_get_parent(child.get(), &parent);
      EXPECT_EQ(otelcpp::SpanIdHex(parent), otelcpp::SpanIdHex(call.context()));
      EXPECT_EQ(otelcpp::TraceIdHex(child.context()), kParentTrace);
      otelcpp::ContextScope inner(child);
      EXPECT_EQ(otelcpp::SpanIdHex(otelcpp::Current().span),
                otelcpp::SpanIdHex(child.context()));
      EXPECT_EQ(otelcpp::Current().call, call.get());  // outgoing calls still parent here
    }
    EXPECT_EQ(otelcpp::SpanIdHex(otelcpp::Current().span), otelcpp::SpanIdHex(call.context()));
  }
  EXPECT_EQ(otelcpp::Current().call, nullptr);
  EXPECT_FALSE(otelcpp::IsValid(otelcpp::Current().span));
}

TEST_F(OtelcppTest, ClientCallInjectsItsOwnContext) {
  auto server = Server({{"traceparent", kTraceparent},
                        {"tracestate", "a=1"},
                        {"tracestate", "b=2"},
                        {"baggage", "k=v%20w"}});
  auto client = otelcpp::RpcCall::StartClient(sdk_, server.get(), kMethod, "127.0.0.1:50051");
  ASSERT_TRUE(client);
  std::multimap<std::string, std::string> md{{"traceparent", "stale"}, {"x-other", "1"}};
  EXPECT_GE(client.InjectInto(&md), 1);
  ASSERT_EQ(md.count("traceparent"), 1u);
  const otelc_span_context sc = client.context();
  EXPECT_EQ(md.find("traceparent")->second,
            "00-" + otelcpp::TraceIdHex(sc) + "-" + otelcpp::SpanIdHex(sc) + "-01");
  EXPECT_EQ(otelcpp::TraceIdHex(sc), kParentTrace);
  EXPECT_NE(otelcpp::SpanIdHex(sc), otelcpp::SpanIdHex(server.context()));
  ASSERT_EQ(md.count("tracestate"), 1u);
  EXPECT_EQ(md.find("tracestate")->second, "a=1,b=2");
  ASSERT_EQ(md.count("baggage"), 1u);
  EXPECT_EQ(md.find("baggage")->second, "k=v%20w");
  EXPECT_EQ(md.count("x-other"), 1u);
  client.Finish(14, "unavailable");
  server.Finish(14, "unavailable");
}

TEST_F(OtelcppTest, MovedRpcCallFinishesOnce) {
  auto a = Server({});
  otelc_rpc_call* raw = a.get();
  otelcpp::RpcCall b(std::move(a));
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  EXPECT_EQ(b.get(), raw);
  otelcpp::RpcCall c;
  c = std::move(b);
  EXPECT_EQ(c.get(), raw);
  // c's destructor finishes the call with the abandon code.
}

TEST_F(OtelcppTest, LogWithoutActiveSpanIsAccepted) {
  otelcpp::Log(sdk_, OTELC_SEVERITY_INFO, "hello", {{"k", "v"}});
  auto call = Server({});
  otelcpp::ContextScope scope(call);
  otelcpp::Log(sdk_, OTELC_SEVERITY_WARN, "inside", {});
}

}  // namespace

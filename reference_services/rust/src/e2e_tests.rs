//! In-process end-to-end tests: a real tonic server behind `ServerLayer`, a real
//! tonic client sending raw metadata (a Python grpcio client cannot send a
//! repeated `traceparent`: grpc core keeps only the last one), spans captured
//! in memory.
use std::net::SocketAddr;
use std::time::Duration;

use opentelemetry::global;
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tonic::metadata::MetadataValue;
use tonic::transport::Server;

use crate::otel_grpc::ServerLayer;
use crate::pb::conformance_client::ConformanceClient;
use crate::pb::conformance_server::ConformanceServer;
use crate::pb::{ChainRequest, EchoRequest, FailRequest, Hop, RelayRequest};
use crate::service::ConformanceService;

const TP1: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const TP2: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

async fn start_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        Server::builder()
            .layer(ServerLayer::new())
            .add_service(ConformanceServer::new(ConformanceService::new(
                tokio::sync::watch::channel(false).1,
            )))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    addr
}

// One test function: the OTel globals are process-wide.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layers_end_to_end() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    global::set_tracer_provider(provider.clone());
    global::set_text_map_propagator(crate::telemetry::propagator_from_env(None));

    let addr = start_server().await;
    let mut client = ConformanceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();

    // 1. A single traceparent is continued.
    let mut req = tonic::Request::new(EchoRequest {
        payload: "one".into(),
    });
    req.metadata_mut()
        .append("traceparent", MetadataValue::from_static(TP1));
    req.metadata_mut()
        .append("tracestate", MetadataValue::from_static("a=1"));
    req.metadata_mut()
        .append("tracestate", MetadataValue::from_static("b=2"));
    client.echo(req).await.unwrap();

    // 2. Two traceparent values: invalid, so a new trace starts.
    let mut req = tonic::Request::new(EchoRequest {
        payload: "two".into(),
    });
    req.metadata_mut()
        .append("traceparent", MetadataValue::from_static(TP1));
    req.metadata_mut()
        .append("traceparent", MetadataValue::from_static(TP2));
    client.echo(req).await.unwrap();

    // 2b. A three-digit version: invalid, so a new trace starts.
    let mut req = tonic::Request::new(EchoRequest {
        payload: "three".into(),
    });
    req.metadata_mut().append(
        "traceparent",
        MetadataValue::try_from(format!("0{TP1}")).unwrap(),
    );
    client.echo(req).await.unwrap();

    // 3. A failure code that is not a server error, and one that is.
    let _ = client
        .fail(FailRequest {
            code: 5,
            message: "nf".into(),
        })
        .await;
    let _ = client
        .fail(FailRequest {
            code: 13,
            message: "boom".into(),
        })
        .await;

    // 4. Relay through our own client layer to ourselves.
    let mut req = tonic::Request::new(RelayRequest {
        downstream: addr.to_string(),
        payload: "relay".into(),
        calls: 2,
    });
    req.metadata_mut()
        .append("traceparent", MetadataValue::from_static(TP1));
    let payloads = client.relay(req).await.unwrap().into_inner().payloads;
    assert_eq!(payloads, vec!["relay", "relay"]);

    tokio::time::sleep(Duration::from_millis(100)).await;
    let all = exporter.get_finished_spans().unwrap();
    let echo_server: Vec<&SpanData> = all
        .iter()
        .filter(|s| s.name == "conformance.v1.Conformance/Echo" && s.span_kind == SpanKind::Server)
        .collect();
    // 1 + 1 + 1 direct Echo calls + 2 relayed ones
    assert_eq!(echo_server.len(), 5, "{all:#?}");

    let first = echo_server[0];
    assert_eq!(
        first.span_context.trace_id().to_string(),
        "0af7651916cd43dd8448eb211c80319c"
    );
    assert_eq!(first.parent_span_id.to_string(), "b7ad6b7169203331");
    assert_eq!(first.span_context.trace_state().header(), "a=1,b=2");

    let second = echo_server[1];
    assert_ne!(
        second.span_context.trace_id().to_string(),
        "0af7651916cd43dd8448eb211c80319c"
    );
    assert_ne!(
        second.span_context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(second.parent_span_id, opentelemetry::trace::SpanId::INVALID);

    let third = echo_server[2];
    assert_ne!(
        third.span_context.trace_id().to_string(),
        "0af7651916cd43dd8448eb211c80319c"
    );
    assert_eq!(third.parent_span_id, opentelemetry::trace::SpanId::INVALID);

    let fails: Vec<&SpanData> = all.iter().filter(|s| s.name.ends_with("/Fail")).collect();
    assert_eq!(fails.len(), 2);
    assert_eq!(fails[0].status, Status::Unset);
    assert!(matches!(fails[1].status, Status::Error { .. }));

    let relay = all.iter().find(|s| s.name.ends_with("/Relay")).unwrap();
    let clients: Vec<&SpanData> = all
        .iter()
        .filter(|s| s.span_kind == SpanKind::Client)
        .collect();
    assert_eq!(clients.len(), 2);
    for c in &clients {
        assert_eq!(c.parent_span_id, relay.span_context.span_id());
        assert_eq!(c.span_context.trace_id(), relay.span_context.trace_id());
        let downstream = echo_server
            .iter()
            .find(|s| s.parent_span_id == c.span_context.span_id())
            .expect("downstream server span is a child of the client span");
        assert_eq!(
            downstream.span_context.trace_id(),
            relay.span_context.trace_id()
        );
    }
    assert_ne!(
        clients[0].span_context.span_id(),
        clients[1].span_context.span_id()
    );

    // 5. Chain: ourselves twice (Chain, then Echo at the end), then a failing middle hop.
    exporter.reset();
    let hop = |fail_code| Hop {
        address: addr.to_string(),
        fail_code,
        log_message: "hop".into(),
    };
    let chain = |fail_code| {
        let mut req = tonic::Request::new(ChainRequest {
            payload: "p0".into(),
            fail_code: 0,
            log_message: String::new(),
            next: vec![hop(fail_code), hop(0)],
        });
        req.metadata_mut()
            .append("traceparent", MetadataValue::from_static(TP1));
        req
    };
    let answer = client.chain(chain(0)).await.unwrap().into_inner().payload;
    assert_eq!(answer, "p0");
    let err = client.chain(chain(10)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Aborted);

    tokio::time::sleep(Duration::from_millis(100)).await;
    let all = exporter.get_finished_spans().unwrap();
    let kinds: Vec<(&str, &SpanKind)> = all.iter().map(|s| (&*s.name, &s.span_kind)).collect();
    // ok: Chain > Chain > Echo (3 server, 2 client); failing: Chain > Chain (2, 1)
    assert_eq!(all.len(), 8, "{kinds:?}");
    for s in &all {
        assert_eq!(s.span_context.trace_id().to_string(), TP1[3..35]);
        if s.span_kind == SpanKind::Server && s.parent_span_id.to_string() != TP1[36..52] {
            let parent = all
                .iter()
                .find(|c| c.span_context.span_id() == s.parent_span_id)
                .expect("a hop's server span is a child of the caller's client span");
            assert_eq!(parent.span_kind, SpanKind::Client);
        }
    }
    let _ = provider.shutdown();
}

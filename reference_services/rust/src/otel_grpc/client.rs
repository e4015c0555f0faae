//! Client side: a tower layer around a `tonic::transport::Channel`
//! (`ServiceBuilder::new().layer(ClientLayer::new(host, port)).service(channel)`).
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use opentelemetry::global::{self, BoxedTracer};
use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::metadata::{parse_grpc_timeout, MetadataInjector};
use super::server::finish_response;
use super::{attr, code, scope, CallState, Instruments, RpcName, Semconv, TracedBody};

/// Tower layer producing [`ClientService`] for calls to one server.
#[derive(Clone)]
pub struct ClientLayer {
    tracer: Arc<BoxedTracer>,
    instruments: Arc<Instruments>,
    server_attrs: Arc<Vec<KeyValue>>,
}

impl ClientLayer {
    /// `server_address`/`server_port` describe the channel target and become the
    /// `server.address`/`server.port` attributes of every client span.
    pub fn new(server_address: impl Into<String>, server_port: u16) -> Self {
        Self::with_semconv(server_address, server_port, Semconv::from_env())
    }

    pub fn with_semconv(
        server_address: impl Into<String>,
        server_port: u16,
        semconv: Semconv,
    ) -> Self {
        ClientLayer {
            tracer: Arc::new(global::tracer_with_scope(scope(semconv))),
            instruments: Arc::new(Instruments::new(semconv, "client")),
            server_attrs: Arc::new(vec![
                KeyValue::new(attr::SERVER_ADDRESS, server_address.into()),
                KeyValue::new(attr::SERVER_PORT, server_port as i64),
            ]),
        }
    }
}

impl<S> Layer<S> for ClientLayer {
    type Service = ClientService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientService {
            inner,
            layer: self.clone(),
        }
    }
}

/// Tower service created by [`ClientLayer`].
#[derive(Clone)]
pub struct ClientService<S> {
    inner: S,
    layer: ClientLayer,
}

impl<S, ReqB, ResB> Service<http::Request<ReqB>> for ClientService<S>
where
    S: Service<http::Request<ReqB>, Response = http::Response<ResB>>,
    ResB: http_body::Body,
{
    type Response = http::Response<TracedBody<ResB>>;
    type Error = S::Error;
    type Future = ClientFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<ReqB>) -> Self::Future {
        let Some(rpc) = RpcName::parse(req.uri().path()) else {
            return ClientFuture {
                inner: self.inner.call(req),
                state: None,
            };
        };
        let parent = Context::current();
        let tracer = &self.layer.tracer;
        let mut attributes = rpc.attributes(self.layer.instruments.semconv);
        attributes.extend(self.layer.server_attrs.iter().cloned());
        let span = tracer
            .span_builder(rpc.span_name())
            .with_kind(SpanKind::Client)
            .with_attributes(attributes)
            .start_with_context(tracer.as_ref(), &parent);
        let cx = parent.with_span(span);
        global::get_text_map_propagator(|p| {
            p.inject_context(&cx, &mut MetadataInjector(req.headers_mut()))
        });
        let deadline = parse_grpc_timeout(req.headers()).map(|d| Instant::now() + d);
        let inner = {
            let _guard = cx.clone().attach();
            self.inner.call(req)
        };
        ClientFuture {
            inner,
            state: Some(CallState {
                cx,
                kind: SpanKind::Client,
                rpc,
                start: Instant::now(),
                deadline,
                instruments: self.layer.instruments.clone(),
                extra_metric_attrs: self.layer.server_attrs.clone(),
            }),
        }
    }
}

pin_project! {
    /// Response future of [`ClientService`].
    pub struct ClientFuture<F> {
        #[pin]
        inner: F,
        state: Option<CallState>,
    }

    impl<F> PinnedDrop for ClientFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(state) = this.state.take() {
                let (c, m) = state.dropped_status();
                state.finish(c, &m);
            }
        }
    }
}

impl<F, ResB, E> Future for ClientFuture<F>
where
    F: Future<Output = Result<http::Response<ResB>, E>>,
{
    type Output = Result<http::Response<TracedBody<ResB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = match this.inner.poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(r) => r,
        };
        // A transport failure before any response is reported like tonic does: UNAVAILABLE.
        Poll::Ready(finish_response(
            this.state.take(),
            result,
            code::UNAVAILABLE,
        ))
    }
}

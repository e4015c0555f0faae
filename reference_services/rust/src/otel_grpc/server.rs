//! Server side: a tower layer to put in front of tonic services
//! (`tonic::transport::Server::builder().layer(ServerLayer::new())`).
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use opentelemetry::global::{self, BoxedTracer};
use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer};
use opentelemetry::KeyValue;
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::metadata::{parse_grpc_timeout, MetadataExtractor};
use super::{code, grpc_status_of, scope, CallState, Instruments, RpcName, Semconv, TracedBody};

/// Decides per request path whether a call is instrumented.
pub type PathFilter = fn(&str) -> bool;

/// Tower layer producing [`ServerService`].
#[derive(Clone)]
pub struct ServerLayer {
    tracer: Arc<BoxedTracer>,
    instruments: Arc<Instruments>,
    filter: Option<PathFilter>,
}

impl Default for ServerLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerLayer {
    /// Uses the global tracer provider, meter provider and propagator, and the
    /// conventions chosen by `OTEL_SEMCONV_STABILITY_OPT_IN`.
    pub fn new() -> Self {
        Self::with_semconv(Semconv::from_env())
    }

    pub fn with_semconv(semconv: Semconv) -> Self {
        ServerLayer {
            tracer: Arc::new(global::tracer_with_scope(scope(semconv))),
            instruments: Arc::new(Instruments::new(semconv, "server")),
            filter: None,
        }
    }

    /// Only instrument calls whose path (`/package.Service/Method`) passes `filter`.
    pub fn with_filter(mut self, filter: PathFilter) -> Self {
        self.filter = Some(filter);
        self
    }
}

impl<S> Layer<S> for ServerLayer {
    type Service = ServerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ServerService {
            inner,
            layer: self.clone(),
        }
    }
}

/// Tower service created by [`ServerLayer`].
#[derive(Clone)]
pub struct ServerService<S> {
    inner: S,
    layer: ServerLayer,
}

impl<S, ReqB, ResB> Service<http::Request<ReqB>> for ServerService<S>
where
    S: Service<http::Request<ReqB>, Response = http::Response<ResB>>,
    ResB: http_body::Body,
{
    type Response = http::Response<TracedBody<ResB>>;
    type Error = S::Error;
    type Future = ServerFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqB>) -> Self::Future {
        let path = req.uri().path();
        let rpc = match RpcName::parse(path) {
            Some(rpc) if self.layer.filter.is_none_or(|f| f(path)) => rpc,
            _ => {
                return ServerFuture {
                    inner: self.inner.call(req),
                    state: None,
                }
            }
        };

        let parent =
            global::get_text_map_propagator(|p| p.extract(&MetadataExtractor::new(req.headers())));
        let deadline = parse_grpc_timeout(req.headers()).map(|d| Instant::now() + d);
        let tracer = &self.layer.tracer;
        let span = tracer
            .span_builder(rpc.span_name())
            .with_kind(SpanKind::Server)
            .with_attributes(rpc.attributes(self.layer.instruments.semconv))
            .start_with_context(tracer.as_ref(), &parent);
        let cx = parent.with_span(span);

        let inner = {
            let _guard = cx.clone().attach();
            self.inner.call(req)
        };
        ServerFuture {
            inner,
            state: Some(CallState {
                cx,
                kind: SpanKind::Server,
                rpc,
                start: Instant::now(),
                deadline,
                instruments: self.layer.instruments.clone(),
                extra_metric_attrs: Arc::new(Vec::<KeyValue>::new()),
            }),
        }
    }
}

pin_project! {
    /// Response future of [`ServerService`].
    pub struct ServerFuture<F> {
        #[pin]
        inner: F,
        state: Option<CallState>,
    }

    impl<F> PinnedDrop for ServerFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(state) = this.state.take() {
                let (c, m) = state.dropped_status();
                state.finish(c, &m);
            }
        }
    }
}

impl<F, ResB, E> Future for ServerFuture<F>
where
    F: Future<Output = Result<http::Response<ResB>, E>>,
{
    type Output = Result<http::Response<TracedBody<ResB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _guard = this.state.as_ref().map(|s| s.cx.clone().attach());
            match this.inner.poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(r) => r,
            }
        };
        Poll::Ready(finish_response(this.state.take(), result, code::UNKNOWN))
    }
}

/// Shared by server and client: a status in the response headers (trailers-only
/// response) ends the call now; otherwise the body carries the state to the trailers.
pub(crate) fn finish_response<ResB, E>(
    state: Option<CallState>,
    result: Result<http::Response<ResB>, E>,
    error_code: i32,
) -> Result<http::Response<TracedBody<ResB>>, E> {
    match result {
        Ok(resp) => {
            let (parts, body) = resp.into_parts();
            let state = match (state, grpc_status_of(&parts.headers)) {
                (Some(state), Some((c, m))) => {
                    state.finish(c, &m);
                    None
                }
                (state, _) => state,
            };
            Ok(http::Response::from_parts(
                parts,
                TracedBody::new(body, state),
            ))
        }
        Err(e) => {
            if let Some(state) = state {
                state.finish(error_code, "transport or service error");
            }
            Err(e)
        }
    }
}

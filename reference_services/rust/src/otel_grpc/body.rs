//! Response body wrapper that finishes the call when the gRPC status arrives.
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::{code, grpc_status_of, CallState};

pin_project! {
    /// A response body that keeps the call's context current while it is polled
    /// (so a streaming handler's work stays inside the span) and ends the span
    /// when the trailers carry `grpc-status`, when the body ends, or when it is
    /// dropped early (cancellation).
    pub struct TracedBody<B> {
        #[pin]
        inner: B,
        state: Option<CallState>,
    }

    impl<B> PinnedDrop for TracedBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(state) = this.state.take() {
                let (c, m) = state.dropped_status();
                state.finish(c, &m);
            }
        }
    }
}

impl<B> TracedBody<B> {
    pub(crate) fn new(inner: B, state: Option<CallState>) -> Self {
        TracedBody { inner, state }
    }
}

impl<B> Body for TracedBody<B>
where
    B: Body,
    B::Error: std::error::Error + 'static,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let _guard = this.state.as_ref().map(|s| s.cx.clone().attach());
        let res = this.inner.poll_frame(cx);
        match &res {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    if let Some(state) = this.state.take() {
                        let (c, m) = grpc_status_of(trailers)
                            .unwrap_or((code::UNKNOWN, "missing grpc-status".into()));
                        state.finish(c, &m);
                    }
                }
            }
            Poll::Ready(Some(Err(e))) => {
                if let Some(state) = this.state.take() {
                    let err: &(dyn std::error::Error + 'static) = e;
                    match err.downcast_ref::<tonic::Status>() {
                        Some(status) => state.finish(status.code() as i32, status.message()),
                        None => state.finish(code::UNKNOWN, &e.to_string()),
                    }
                }
            }
            Poll::Ready(None) => {
                if let Some(state) = this.state.take() {
                    state.finish(code::UNKNOWN, "stream ended without grpc-status");
                }
            }
            Poll::Pending => {}
        }
        res
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

//! conformance.v1.Conformance: the behaviours the suite drives.
use std::pin::Pin;
use std::time::Duration;

use tokio_stream::Stream;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Response, Status};

use crate::applog;
use crate::otel_grpc::metadata::parse_grpc_timeout_value;
use crate::otel_grpc::{ClientLayer, ClientService};
use crate::pb::conformance_client::ConformanceClient;
use crate::pb::conformance_server::Conformance;
use crate::pb::{
    ChainRequest, ChainResponse, EchoRequest, EchoResponse, FailRequest, FailResponse, LogRequest,
    LogResponse, RelayRequest, RelayResponse, Severity, SleepRequest, SleepResponse,
    StreamEchoRequest,
};

#[derive(Debug, Clone)]
pub struct ConformanceService {
    /// Becomes `true` when the server gives up waiting for in-flight calls at
    /// shutdown; long calls (Sleep) then end with UNAVAILABLE so that their spans
    /// end and get flushed.
    abort: tokio::sync::watch::Receiver<bool>,
}

impl ConformanceService {
    pub fn new(abort: tokio::sync::watch::Receiver<bool>) -> Self {
        ConformanceService { abort }
    }
}

/// Splits `host:port` (or `[v6]:port`) into the `server.address`/`server.port` pair.
pub fn split_host_port(target: &str) -> Option<(String, u16)> {
    let (host, port) = target.rsplit_once(':')?;
    let port = port.parse().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return None;
    }
    Some((host.to_string(), port))
}

/// An instrumented client for `downstream`: every call gets a CLIENT span and
/// carries the current context in its metadata.
fn downstream_client(
    downstream: &str,
) -> Result<ConformanceClient<ClientService<Channel>>, Status> {
    let (host, port) = split_host_port(downstream)
        .ok_or_else(|| Status::invalid_argument(format!("bad downstream {downstream:?}")))?;
    let channel = Endpoint::from_shared(format!("http://{downstream}"))
        .map_err(|e| Status::invalid_argument(format!("bad downstream {downstream:?}: {e}")))?
        .connect_timeout(Duration::from_secs(5))
        .connect_lazy();
    let svc = tower::ServiceBuilder::new()
        .layer(ClientLayer::new(host, port))
        .service(channel);
    Ok(ConformanceClient::new(svc))
}

/// A downstream failure as our own status: same code and message, but none of the
/// downstream's response metadata, which tonic would otherwise send back as ours.
fn downstream_status(s: Status) -> Status {
    Status::new(s.code(), s.message().to_string())
}

/// The status a caller asked for by number (Fail, Chain): `Ok` for 0, and
/// INVALID_ARGUMENT rather than a made-up code outside 1..=16.
fn requested_status(code: u32, message: impl Into<String>) -> Result<(), Status> {
    match code {
        0 => Ok(()),
        1..=16 => Err(Status::new(Code::from_i32(code as i32), message)),
        other => Err(Status::invalid_argument(format!(
            "code {other} is not a gRPC status code"
        ))),
    }
}

/// When the caller's `grpc-timeout` runs out, measured from the call's arrival.
fn incoming_deadline<T>(request: &Request<T>) -> Option<tokio::time::Instant> {
    request
        .metadata()
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout_value)
        .map(|d| tokio::time::Instant::now() + d)
}

/// An outgoing request that inherits what is left of the caller's deadline, so a
/// hop further down a chain gives up when the caller does instead of working on
/// for nobody.
fn within_deadline<T>(message: T, deadline: Option<tokio::time::Instant>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(deadline) = deadline {
        request.set_timeout(deadline.saturating_duration_since(tokio::time::Instant::now()));
    }
    request
}

type EchoStream = Pin<Box<dyn Stream<Item = Result<EchoResponse, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl Conformance for ConformanceService {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        let payload = request.into_inner().payload;
        Ok(Response::new(EchoResponse { payload }))
    }

    async fn fail(&self, request: Request<FailRequest>) -> Result<Response<FailResponse>, Status> {
        let req = request.into_inner();
        requested_status(req.code, req.message)?;
        Ok(Response::new(FailResponse {}))
    }

    async fn relay(
        &self,
        request: Request<RelayRequest>,
    ) -> Result<Response<RelayResponse>, Status> {
        let req = request.into_inner();
        let mut client = downstream_client(&req.downstream)?;
        let calls = req.calls.max(1);
        let mut payloads = Vec::with_capacity(calls as usize);
        for _ in 0..calls {
            let resp = client
                .echo(EchoRequest {
                    payload: req.payload.clone(),
                })
                .await
                .map_err(downstream_status)?;
            payloads.push(resp.into_inner().payload);
        }
        Ok(Response::new(RelayResponse { payloads }))
    }

    async fn log(&self, request: Request<LogRequest>) -> Result<Response<LogResponse>, Status> {
        let req = request.into_inner();
        let severity = Severity::try_from(req.severity).unwrap_or(Severity::Unspecified);
        let mut attrs: Vec<(String, String)> = req.attributes.into_iter().collect();
        attrs.sort();
        let message = req.message;
        applog::with_attributes(attrs, || match severity {
            Severity::Debug => tracing::debug!(message = %message),
            Severity::Warn => tracing::warn!(message = %message),
            Severity::Error => tracing::error!(message = %message),
            Severity::Info | Severity::Unspecified => tracing::info!(message = %message),
        });
        Ok(Response::new(LogResponse {}))
    }

    async fn sleep(
        &self,
        request: Request<SleepRequest>,
    ) -> Result<Response<SleepResponse>, Status> {
        let deadline = incoming_deadline(&request);
        let wanted = Duration::from_millis(request.get_ref().duration_ms as u64);
        let mut abort = self.abort.clone();
        let shutting_down = async move {
            let _ = abort.wait_for(|stop| *stop).await;
        };
        // Client cancellation drops this future (and so ends the wait).
        let wait = async {
            match deadline {
                Some(deadline) if deadline < tokio::time::Instant::now() + wanted => {
                    tokio::time::sleep_until(deadline).await;
                    Err(Status::deadline_exceeded(
                        "deadline exceeded while sleeping",
                    ))
                }
                _ => {
                    tokio::time::sleep(wanted).await;
                    Ok(Response::new(SleepResponse {}))
                }
            }
        };
        tokio::select! {
            res = wait => res,
            _ = shutting_down => Err(Status::unavailable("server shutting down")),
        }
    }

    async fn chain(
        &self,
        request: Request<ChainRequest>,
    ) -> Result<Response<ChainResponse>, Status> {
        let deadline = incoming_deadline(&request);
        let req = request.into_inner();
        if !req.log_message.is_empty() {
            // The same event Log emits at INFO, so it carries the server span's ids.
            tracing::info!(message = %req.log_message);
        }
        requested_status(req.fail_code, "chain failure")?;
        let mut next = req.next.into_iter();
        let Some(hop) = next.next() else {
            return Ok(Response::new(ChainResponse {
                payload: req.payload,
            }));
        };
        let rest: Vec<_> = next.collect();
        let mut client = downstream_client(&hop.address)?;
        // The last hop only has to answer, so any service with Echo can end a chain.
        let payload = if rest.is_empty() {
            let echo = EchoRequest {
                payload: req.payload,
            };
            client
                .echo(within_deadline(echo, deadline))
                .await
                .map_err(downstream_status)?
                .into_inner()
                .payload
        } else {
            let chain = ChainRequest {
                payload: req.payload,
                fail_code: hop.fail_code,
                log_message: hop.log_message,
                next: rest,
            };
            client
                .chain(within_deadline(chain, deadline))
                .await
                .map_err(downstream_status)?
                .into_inner()
                .payload
        };
        Ok(Response::new(ChainResponse { payload }))
    }

    type StreamEchoStream = EchoStream;

    async fn stream_echo(
        &self,
        request: Request<StreamEchoRequest>,
    ) -> Result<Response<Self::StreamEchoStream>, Status> {
        let req = request.into_inner();
        let items = (0..req.count).map(move |_| {
            Ok(EchoResponse {
                payload: req.payload.clone(),
            })
        });
        Ok(Response::new(
            Box::pin(tokio_stream::iter(items)) as EchoStream
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::split_host_port;

    #[test]
    fn host_port() {
        assert_eq!(
            split_host_port("127.0.0.1:5000"),
            Some(("127.0.0.1".into(), 5000))
        );
        assert_eq!(split_host_port("[::1]:80"), Some(("::1".into(), 80)));
        assert_eq!(split_host_port("localhost"), None);
        assert_eq!(split_host_port(":80"), None);
    }
}

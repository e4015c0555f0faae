//! Rust reference service for the OpenTelemetry gRPC conformance suite.
mod applog;
#[cfg(test)]
mod e2e_tests;
mod otel_grpc;
mod service;
mod telemetry;

pub mod pb {
    tonic::include_proto!("conformance.v1");
}

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use pb::conformance_server::ConformanceServer;
use tonic::transport::Server;

/// Time the server gets to finish in-flight calls after SIGTERM before they are
/// cancelled; the telemetry flush follows (the suite allows 10 s in total).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

fn port_from_env_or_args() -> Result<u16, String> {
    let mut args = std::env::args().skip(1);
    let mut from_args = None;
    while let Some(a) = args.next() {
        if a == "--port" {
            from_args = args.next();
        } else if let Some(v) = a.strip_prefix("--port=") {
            from_args = Some(v.to_string());
        }
    }
    let raw = from_args
        .or_else(|| std::env::var("PORT").ok())
        .ok_or("set PORT (or pass --port N)")?;
    raw.trim()
        .parse::<u16>()
        .map_err(|e| format!("bad port {raw:?}: {e}"))
}

async fn terminated() {
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("install SIGTERM handler");
    tokio::select! {
        _ = sigterm.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let port = match port_from_env_or_args() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("conformance-reference-rust: {e}");
            return ExitCode::from(2);
        }
    };
    let telemetry = match tokio::task::spawn_blocking(telemetry::init).await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("conformance-reference-rust: telemetry setup failed: {e}");
            return ExitCode::from(1);
        }
    };

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<ConformanceServer<service::ConformanceService>>()
        .await;

    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("conformance-reference-rust: cannot listen on {addr}: {e}");
            tokio::task::spawn_blocking(move || telemetry.shutdown())
                .await
                .ok();
            return ExitCode::from(1);
        }
    };

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (abort_tx, abort_rx) = tokio::sync::watch::channel(false);
    let server = Server::builder()
        .layer(
            otel_grpc::ServerLayer::new().with_filter(|path| !path.starts_with("/grpc.health.v1.")),
        )
        .add_service(health_service)
        .add_service(ConformanceServer::new(service::ConformanceService::new(
            abort_rx,
        )))
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            async {
                stop_rx.await.ok();
            },
        );
    let mut server = tokio::spawn(server);
    tracing::info!(port, service = %telemetry.service_name, "listening on {addr}");

    let mut code = ExitCode::SUCCESS;
    tokio::select! {
        _ = terminated() => {
            health_reporter
                .set_not_serving::<ConformanceServer<service::ConformanceService>>()
                .await;
            let _ = stop_tx.send(());
            if tokio::time::timeout(DRAIN_TIMEOUT, &mut server).await.is_err() {
                // Ask long calls to end now (UNAVAILABLE), so their spans end and
                // are flushed below; then stop waiting regardless.
                let _ = abort_tx.send(true);
                if tokio::time::timeout(Duration::from_secs(2), &mut server).await.is_err() {
                    server.abort();
                }
            }
        }
        res = &mut server => {
            if !matches!(res, Ok(Ok(()))) {
                eprintln!("conformance-reference-rust: server stopped: {res:?}");
                code = ExitCode::from(1);
            }
        }
    }

    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .ok();
    code
}

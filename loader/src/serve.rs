//! The operator's endpoints: `--metrics ADDR` (`/metrics`, Prometheus text) and
//! `--healthz ADDR` (`/livez`, `/readyz`, `/healthz`), each served by a thread of its own
//! with no capability (tiny_http), reading only the published `Telemetry`. Given the same
//! address, one server answers all the paths.

use std::net::SocketAddr;
use std::sync::Arc;

use tiny_http::{Header, Response, Server};

use crate::telemetry::{Health, Telemetry};

/// Which paths a server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paths {
    pub metrics: bool,
    pub health: bool,
}

/// Binds every address now (a taken port is an error at start, not a silent gap later)
/// and serves each on its own thread.
pub fn start(
    metrics: Option<SocketAddr>,
    healthz: Option<SocketAddr>,
    telemetry: &Arc<Telemetry>,
) -> Result<(), String> {
    let mut servers: Vec<(SocketAddr, Paths)> = Vec::new();
    for (addr, paths) in [
        (
            metrics,
            Paths {
                metrics: true,
                health: false,
            },
        ),
        (
            healthz,
            Paths {
                metrics: false,
                health: true,
            },
        ),
    ] {
        let Some(addr) = addr else { continue };
        match servers.iter_mut().find(|(a, _)| *a == addr) {
            Some((_, p)) => {
                p.metrics |= paths.metrics;
                p.health |= paths.health;
            }
            None => servers.push((addr, paths)),
        }
    }
    for (addr, paths) in servers {
        let flag = if paths.metrics {
            "--metrics"
        } else {
            "--healthz"
        };
        let server =
            Server::http(addr).map_err(|e| format!("{flag} {addr}: cannot listen there: {e}"))?;
        let telemetry = Arc::clone(telemetry);
        crate::harden::spawn_unprivileged("http", move || serve(&server, paths, &telemetry))?;
    }
    Ok(())
}

fn serve(server: &Server, paths: Paths, telemetry: &Arc<Telemetry>) {
    for request in server.incoming_requests() {
        let path = request.url().split('?').next().unwrap_or("");
        let response = answer(path, paths, telemetry);
        let _ = request.respond(response);
    }
}

fn text(status: u16, body: String, content_type: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    let mut response = Response::from_string(body).with_status_code(status);
    if let Ok(h) = Header::from_bytes(&b"Content-Type"[..], content_type.as_bytes()) {
        response = response.with_header(h);
    }
    response
}

fn health(h: Health) -> Response<std::io::Cursor<Vec<u8>>> {
    let status = if h.ok { 200 } else { 503 };
    let word = if h.ok { "ok" } else { "failing" };
    text(
        status,
        format!("{word}: {}\n", h.why),
        "text/plain; charset=utf-8",
    )
}

fn answer(
    path: &str,
    paths: Paths,
    telemetry: &Arc<Telemetry>,
) -> Response<std::io::Cursor<Vec<u8>>> {
    match path {
        "/metrics" if paths.metrics => match crate::telemetry::exposition(telemetry) {
            Ok(body) => text(200, body, "text/plain; version=0.0.4; charset=utf-8"),
            Err(_) => text(
                500,
                "encoding the metrics failed\n".to_owned(),
                "text/plain",
            ),
        },
        "/livez" if paths.health => health(telemetry.live()),
        "/readyz" if paths.health => health(telemetry.ready()),
        "/healthz" if paths.health => {
            let (live, ready) = (telemetry.live(), telemetry.ready());
            if live.ok { health(ready) } else { health(live) }
        }
        _ => {
            let mut known = Vec::new();
            if paths.metrics {
                known.push("/metrics");
            }
            if paths.health {
                known.extend(["/livez", "/readyz", "/healthz"]);
            }
            text(
                404,
                format!("not found: this endpoint serves {}\n", known.join(", ")),
                "text/plain; charset=utf-8",
            )
        }
    }
}

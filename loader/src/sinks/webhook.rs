//! The webhook sink: batches POSTed as NDJSON (`application/x-ndjson`, one JSON object per
//! line, as Vector's and Fluent Bit's HTTP inputs and most log collectors take them). A
//! status other than 2xx counts as a failed attempt, retried like a failed connection.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::SinkStats;
use super::batch::{Backoff, Batching, run};
use crate::output::Queue;

/// Checks the URL and starts the sink's thread.
pub(super) fn start(
    url: &str,
    batching: Batching,
    backoff: Backoff,
    timeout: Duration,
    queue: Arc<Queue>,
    stats: Arc<SinkStats>,
) -> Result<(), String> {
    let uri: ureq::http::Uri = url
        .parse()
        .map_err(|e| format!("--webhook {url}: not a URL ({e}): give http://HOST:PORT/PATH"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(format!(
            "--webhook {url}: give an http:// or https:// URL with a host (http://HOST:PORT/PATH)"
        ));
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .user_agent(concat!("tracee-load/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let post = move |body: &[u8]| -> Result<(), String> {
        let mut response = agent
            .post(uri.clone())
            .header("content-type", "application/x-ndjson")
            .send(body)
            .map_err(|e| e.to_string())?;
        let status = response.status();
        // Read to the end, so that the connection can be kept for the next batch.
        let _ = response
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_vec();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("HTTP {status}"))
        }
    };
    crate::harden::spawn_unprivileged("sink-webhook", move || {
        run(&queue, &stats, batching, backoff, post);
        stats.finished.store(true, Ordering::SeqCst);
    })
}

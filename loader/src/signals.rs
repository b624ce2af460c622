//! Signals are served by one thread of their own. Every other thread blocks them, so the
//! kernel delivers each process-directed signal to that thread: the thread loading BPF
//! programs never has a signal pending, which the verifier answers with EAGAIN ("a
//! SIGHUP storm refuses reloads"), and a stop is seen however long a step takes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;

use nix::sys::signal::{SigSet, Signal};
use signal_hook::consts::{SIGHUP, SIGINT, SIGPIPE, SIGTERM};

/// What the signal thread tells the rest.
pub struct Signals {
    /// SIGINT, SIGTERM or SIGPIPE arrived: stop.
    pub stop: Arc<AtomicBool>,
}

fn handled() -> SigSet {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGPIPE,
        Signal::SIGHUP,
    ] {
        set.add(s);
    }
    set
}

/// Blocks the handled signals in the calling thread (and so in every thread it starts
/// afterwards) and starts the signal thread, which sets `stop` and sends one `()` on
/// `reload` per SIGHUP (nothing when `reload` is None: SIGHUP is then ignored). Call it
/// first, before any other thread exists.
pub fn install(reload: Option<Sender<()>>) -> Result<Signals, String> {
    let set = handled();
    set.thread_block()
        .map_err(|e| format!("blocking signals: {e}"))?;
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGPIPE, SIGHUP])
        .map_err(|e| format!("installing the signal handlers: {e}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    crate::harden::spawn_unprivileged("signals", move || {
        if let Err(e) = set.thread_unblock() {
            crate::say!("tracee-load: warning: unblocking signals: {e}");
        }
        for signal in signals.forever() {
            if signal == SIGHUP {
                if let Some(reload) = &reload {
                    let _ = reload.send(());
                }
            } else {
                flag.store(true, Ordering::SeqCst);
            }
        }
    })?;
    Ok(Signals { stop })
}

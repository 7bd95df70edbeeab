//! The signals that stop a node (or a devnet): Ctrl-C (SIGINT) or SIGTERM,
//! whichever comes first. Both are taken over when `Signals::install` is
//! called, not when first awaited, so a signal that arrives during startup
//! is not lost to the default action (which would kill the process and
//! orphan a devnet's nodes).

use tokio::signal::unix::{Signal, SignalKind, signal};

/// SIGINT and SIGTERM, caught from the moment of `install`.
pub struct Signals {
    interrupt: Option<Signal>,
    terminate: Option<Signal>,
}

impl Signals {
    /// Catches both signals from now on. Must be called inside a tokio
    /// runtime. A signal that cannot be caught is only logged: the process
    /// then stops the default way for that one.
    pub fn install() -> Signals {
        let catch = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(signal) => Some(signal),
            Err(e) => {
                tracing::warn!("cannot catch {name}: {e}");
                None
            }
        };
        Signals {
            interrupt: catch(SignalKind::interrupt(), "Ctrl-C"),
            terminate: catch(SignalKind::terminate(), "SIGTERM"),
        }
    }

    /// Completes when the process is asked to stop.
    pub async fn recv(mut self) {
        async fn next(signal: &mut Option<Signal>) {
            match signal {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        tokio::select! {
            _ = next(&mut self.interrupt) => tracing::info!("Ctrl-C received"),
            _ = next(&mut self.terminate) => tracing::info!("SIGTERM received"),
        }
    }
}

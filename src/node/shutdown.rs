//! Stopping: the signals that stop a node (or a devnet), Ctrl-C (SIGINT)
//! or SIGTERM, whichever comes first, and `Shutdown`, the flag every part
//! of a running node watches. The signals are taken over when
//! `Signals::install` is called, not when first awaited, so a signal that
//! arrives during startup is not lost to the default action (which would
//! kill the process and orphan a devnet's nodes).

use std::sync::Arc;

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;

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

/// The node is stopping: a flag raised once, which tasks check and wait
/// on. Cheap to clone.
#[derive(Clone, Default)]
pub struct Shutdown(Arc<watch::Sender<bool>>);

impl Shutdown {
    /// Stops the node (as Ctrl-C does).
    pub fn request(&self) {
        self.0.send_replace(true);
    }

    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }

    pub fn watch(&self) -> watch::Receiver<bool> {
        self.0.subscribe()
    }

    /// Completes once the node is stopping.
    pub async fn wait(&self) {
        let mut watch = self.watch();
        let _ = watch.wait_for(|stop| *stop).await;
    }
}

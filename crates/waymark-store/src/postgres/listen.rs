//! What a node hears from the others, on one connection that listens:
//! - `waymark_jobs`: a step that adds a job sends it in its transaction (delivered at its
//!   commit), and this node's job loops wake;
//! - `waymark_directory`: a trigger sends it on every write to keys or people, and this node
//!   forgets the token holders it kept (`holders.rs`).
//!
//! When the listening connection drops, the node keeps no holders until it listens again; the
//! connection is opened again a second later, and the loops are woken once, for what they may
//! have missed meanwhile.

use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::{AsyncMessage, NoTls};

use super::holders::Holders;
use crate::workflow::JobSignal;

/// The channel steps notify.
pub(crate) const CHANNEL: &str = "waymark_jobs";
/// The channel the directory's trigger notifies (schema step 4).
pub(crate) const DIRECTORY: &str = "waymark_directory";

/// Listens until the runtime stops.
pub(crate) async fn listen(
    config: tokio_postgres::Config,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    jobs: Arc<JobSignal>,
    holders: Arc<Holders>,
) {
    // A connection cut without a word (a network gone) is noticed within about 20 s, not the
    // system's two hours; meanwhile kept holders still end after `Holders::LONGEST`.
    let mut config = config;
    config
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(10))
        .keepalives_interval(Duration::from_secs(5))
        .keepalives_retries(2);
    // Said once until a connection works again, not every second.
    let mut said = false;
    loop {
        match &tls {
            Some(tls) => match config.connect(tls.clone()).await {
                Ok((client, connection)) => {
                    said = false;
                    hear(&client, connection, &jobs, &holders).await;
                }
                Err(error) => unheard(&error, &mut said),
            },
            None => match config.connect(NoTls).await {
                Ok((client, connection)) => {
                    said = false;
                    hear(&client, connection, &jobs, &holders).await;
                }
                Err(error) => unheard(&error, &mut said),
            },
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Says once that the listening connection cannot be opened.
fn unheard(error: &tokio_postgres::Error, said: &mut bool) {
    if !*said {
        *said = true;
        tracing::warn!(error = %super::described(error), "cannot connect to listen for jobs; trying again every second");
    }
}

/// Listens on one connection until it drops.
async fn hear<S, T>(
    client: &tokio_postgres::Client,
    mut connection: tokio_postgres::Connection<S, T>,
    jobs: &Arc<JobSignal>,
    holders: &Arc<Holders>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (woken, forgetting) = (jobs.clone(), holders.clone());
    let messages = tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notification(heard)) if heard.channel() == DIRECTORY => {
                    forgetting.forget();
                }
                Ok(AsyncMessage::Notification(_)) => woken.raise(),
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(error = %super::described(&error), "the connection listening for jobs failed");
                    break;
                }
            }
        }
    });
    match client
        .batch_execute(&format!("LISTEN {CHANNEL}; LISTEN {DIRECTORY}"))
        .await
    {
        Ok(()) => {
            // Whatever was added while nobody listened.
            jobs.raise();
            holders.listening(true);
            let _ = messages.await;
            holders.listening(false);
        }
        Err(error) => {
            tracing::warn!(error = %super::described(&error), "cannot listen for jobs");
            messages.abort();
        }
    }
}

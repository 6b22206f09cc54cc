//! Wakes this node's job loops when another node adds a job: a step that adds one sends
//! `NOTIFY waymark_jobs` in its transaction (delivered at its commit), and every node keeps one
//! connection that listens. When the listening connection drops, it is opened again a second
//! later and the loops are woken once, for what they may have missed meanwhile.

use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::{AsyncMessage, NoTls};

use crate::workflow::JobSignal;

/// The channel steps notify.
pub(crate) const CHANNEL: &str = "waymark_jobs";

/// Listens until the runtime stops.
pub(crate) async fn listen(
    config: tokio_postgres::Config,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    jobs: Arc<JobSignal>,
) {
    // Said once until a connection works again, not every second.
    let mut said = false;
    loop {
        match &tls {
            Some(tls) => match config.connect(tls.clone()).await {
                Ok((client, connection)) => {
                    said = false;
                    hear(&client, connection, &jobs).await;
                }
                Err(error) => unheard(&error, &mut said),
            },
            None => match config.connect(NoTls).await {
                Ok((client, connection)) => {
                    said = false;
                    hear(&client, connection, &jobs).await;
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
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let woken = jobs.clone();
    let messages = tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notification(_)) => woken.raise(),
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(error = %super::described(&error), "the connection listening for jobs failed");
                    break;
                }
            }
        }
    });
    match client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
        Ok(()) => {
            // Whatever was added while nobody listened.
            jobs.raise();
            let _ = messages.await;
        }
        Err(error) => {
            tracing::warn!(error = %super::described(&error), "cannot listen for jobs");
            messages.abort();
        }
    }
}

//! `waymark serve`.

use std::sync::Arc;

use anyhow::Context as _;
use waymark_server::AppState;
use waymark_store::KeyKind;
use waymark_store::prelude::*;

use crate::Outcome;
use crate::cli::ServeArgs;

pub fn run(args: ServeArgs) -> anyhow::Result<Outcome> {
    let args = crate::config::settings(args)?;
    let options = waymark_store::Options {
        identifier_traits: args.identifier_traits.clone(),
        ..Default::default()
    };
    let store = waymark_store::open(&args.db, &options)
        .with_context(|| format!("cannot open the store {}", args.db))?;
    if let Some(token) = &args.admin_token {
        store.ensure_key(KeyKind::Admin, token)?;
    }
    if let Some(key) = &args.write_key {
        store.ensure_key(KeyKind::Write, key)?;
    }
    if let Some(key) = &args.server_key {
        store.ensure_key(KeyKind::Server, key)?;
    }
    let tls_ca = match &args.tls_ca {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("--tls-ca: cannot read {}", path.display()))?,
        ),
        None => None,
    };
    let outgoing = Outgoing {
        mail: args
            .smtp_url
            .clone()
            .map(|smtp| (smtp, args.mail_from.clone(), args.public_url.clone())),
        tls_ca,
        public_url: args.public_url.clone(),
        takeover: Some(args.takeover_after),
        alert_every: Some(args.alert_every),
        survey_every: Some(args.survey_every),
        events: args.events.clone(),
        ..Outgoing::default()
    };
    serve_store(store, &args.listen, outgoing, |address| {
        // Scripts and tests read this line to find the port when they ask for port 0.
        println!("waymark listening on http://{address}");
    })?;
    Ok(Outcome::Fine)
}

/// Work the server does by itself every second, beside its own loops (the demo's budget
/// system, say): given the store and the time.
pub type Worker = Box<dyn Fn(&dyn Store, i64) + Send + Sync>;

/// How the server reaches other systems.
#[derive(Default)]
pub struct Outgoing {
    /// Keep mail in the app instead of sending it (the demo: people read it in the web app).
    pub keep_mail: bool,
    /// Serve the demo's pages (requests offer to send the events they wait for).
    pub demo: bool,
    /// Stand-ins for other systems, run every second.
    pub workers: Vec<Worker>,
    /// SMTP address, sender, public URL: with it, send tasks' emails go out.
    pub mail: Option<(String, String, Option<String>)>,
    /// PEM CA certificates the SMTP server and https:// webhooks must lead to (else the built-in
    /// Mozilla roots).
    pub tls_ca: Option<String>,
    /// Where people reach the server (`--public-url`).
    pub public_url: Option<String>,
    /// How long claimed work waits for a node that died (`--takeover-after`; else the default).
    pub takeover: Option<std::time::Duration>,
    /// How often alert rules are checked (`--alert-every`; else the default).
    pub alert_every: Option<std::time::Duration>,
    /// How long a person is not asked for feedback again (`--survey-every`; else the default).
    pub survey_every: Option<std::time::Duration>,
    /// Where the collected events are kept as well (`--events`).
    pub events: Option<waymark_clickhouse::Location>,
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outgoing")
            .field(
                "mail",
                &self.mail.as_ref().map(|(_, from, public)| (from, public)),
            )
            .field("keep_mail", &self.keep_mail)
            .field("demo", &self.demo)
            .field("workers", &self.workers.len())
            .finish_non_exhaustive()
    }
}

/// Serves a store until SIGTERM or Ctrl-C; `banner` is told the address once listening.
pub fn serve_store(
    store: Arc<dyn Store>,
    listen: &str,
    outgoing: Outgoing,
    banner: impl FnOnce(std::net::SocketAddr),
) -> anyhow::Result<()> {
    let Outgoing {
        mail,
        tls_ca,
        public_url,
        keep_mail,
        demo,
        workers,
        takeover,
        alert_every,
        survey_every,
        events,
    } = outgoing;
    let mut state = AppState::new(store).context("cannot read the signing keys")?;
    if let Some(takeover) = takeover {
        state.takeover = takeover;
    }
    if let Some(location) = events {
        let events = waymark_clickhouse::EventStore::open(&location)
            .with_context(|| format!("cannot open the events database {location}"))?;
        // One node forwards at a time; another takes over once its lease lapsed.
        let forwarding =
            waymark_server::events::Forwarding::start(events, state.store.clone(), state.takeover)
                .with_context(|| format!("cannot read what was forwarded to {location}"))?;
        tracing::info!(events = %location, "keeping the events in ClickHouse");
        state = state.with_events(forwarding);
    }
    if let Some(every) = alert_every {
        state.alert_every = every;
    }
    if let Some(every) = survey_every {
        state.survey_every = every;
    }
    let lease_us = state.lease_us();
    if let Some(pem) = &tls_ca {
        state.webhooks = state
            .webhooks
            .clone()
            .with_ca(pem)
            .map_err(|problem| anyhow::anyhow!("--tls-ca: {problem}"))?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let address = listener.local_addr()?;
        if let Some((smtp, from, public)) = mail {
            let public = public.unwrap_or_else(|| format!("http://{address}"));
            let mailer = waymark_server::mail::Mailer::new(
                &smtp,
                &from,
                &public,
                tls_ca.as_deref(),
                lease_us,
            )
            .map_err(|problem| anyhow::anyhow!("--smtp-url: {problem}"))?;
            // The address may carry a password: only where it goes is logged.
            let relay = url::Url::parse(&smtp)
                .ok()
                .and_then(|u| u.host_str().map(|h| format!("{}://{h}", u.scheme())))
                .unwrap_or_default();
            tracing::info!(%relay, %public, "sending the email of send tasks");
            state.mailer = Some(Arc::new(mailer));
        }
        if keep_mail {
            let public = public_url
                .clone()
                .unwrap_or_else(|| format!("http://{address}"));
            let mailer = waymark_server::mail::Mailer::in_app(
                state.store.clone(),
                "Waymark <waymark@demo.example>",
                &public,
            )
            .map_err(|problem| anyhow::anyhow!("the demo's mailbox: {problem}"))?;
            state.mailer = Some(Arc::new(mailer));
        }
        if !workers.is_empty() {
            let store = state.store.clone();
            let clock = state.clock.clone();
            let workers = Arc::new(workers);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
                loop {
                    tick.tick().await;
                    let (store, workers, now) = (store.clone(), workers.clone(), clock.now_us());
                    let _ = tokio::task::spawn_blocking(move || {
                        for worker in workers.iter() {
                            worker(store.as_ref(), now);
                        }
                    })
                    .await;
                }
            });
        }
        // The stored events are read for the journey pages in the background, so the first
        // page after a start does not wait for it (pages say they are being read meanwhile).
        waymark_server::journeys::start_following(&state.logs, &state.store)
            .context("cannot list the deployed journeys")?;
        tracing::info!(%address, "serving");
        banner(address);
        // Cookies are marked Secure when people reach the server over https.
        let secure = public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"));
        let pages = if demo {
            waymark_web::demo_pages(state.clone(), secure)
        } else {
            waymark_web::pages(state.clone(), secure)
        };
        let router = waymark_server::app_with(state.clone(), pages);
        let forwarding = state.events.clone();
        let served = waymark_server::serve_router(listener, state, router, shutdown_signal()).await;
        // Another node forwards the events at once, not once the lease lapsed (after the pass
        // under way).
        if let Some(forwarding) = forwarding {
            let _ = tokio::task::spawn_blocking(move || forwarding.stop()).await;
        }
        served?;
        tracing::info!("stopped");
        anyhow::Ok(())
    })
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}

//! Service tasks that call a webhook (`waymark:url` on the task). The server posts the request's
//! variables as JSON with an `Idempotency-Key` that is the same on every attempt for one task,
//! so the receiver can tell a retry from a new call. A 2xx answer completes the task, a JSON
//! object in it becoming variables; anything else is tried again with exponential backoff
//! (`base`, doubling, capped at an hour), and the attempts and last error are kept for
//! administrators.

use std::time::Duration;

use serde_json::{Map, Value, json};
use waymark_store::prelude::*;
use waymark_store::workflow::JobKind;
use waymark_workflow::engine::Command;

/// How webhooks are called.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The first wait before a failed call is tried again (doubling after each).
    pub backoff: Duration,
    /// Whom an `https://` receiver's certificate must lead to: the Mozilla roots built in, or
    /// only a private CA's certificates.
    pub roots: ureq::tls::RootCerts,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            backoff: Duration::from_secs(1),
            roots: ureq::tls::RootCerts::WebPki,
        }
    }
}

impl Settings {
    /// Trusts only the CA certificates in `pem` for `https://` receivers.
    pub fn with_ca(mut self, pem: &str) -> Result<Settings, String> {
        let mut certificates = Vec::new();
        for item in ureq::tls::parse_pem(pem.as_bytes()) {
            match item {
                Ok(ureq::tls::PemItem::Certificate(certificate)) => certificates.push(certificate),
                Ok(_) => {}
                Err(error) => return Err(format!("a CA certificate cannot be read: {error}")),
            }
        }
        if certificates.is_empty() {
            return Err(
                "the CA file holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
            );
        }
        self.roots = ureq::tls::RootCerts::Specific(std::sync::Arc::new(certificates));
        Ok(self)
    }
}

/// How long one call may take: half the claim, 30 s at most.
pub fn call_timeout(lease_us: i64) -> Duration {
    Duration::from_micros((lease_us / 2).max(1) as u64).min(Duration::from_secs(30))
}

/// Calls every due webhook task once, each claimed for `lease_us` (a call gives up after half of
/// it, 30 s at most, so it never outlives its claim). Returns how many completed.
pub fn call_due(store: &dyn Store, settings: &Settings, now_us: i64, lease_us: i64) -> usize {
    let base = settings.backoff;
    // Found by due time through an index, and leased: another node leaves them alone, and
    // when this one dies mid-call they are due again once the lease ends.
    // Counted from before the claim: the claim ends `lease_us` after `now_us` at the latest.
    let claimed = std::time::Instant::now();
    let Ok(jobs) = store.claim_jobs(JobKind::Webhook, now_us, lease_us, 64) else {
        return 0;
    };
    // The loop runs often: nothing is built when no webhook is due.
    if jobs.is_empty() {
        return 0;
    }
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(settings.roots.clone())
        .build();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls)
        .timeout_global(Some(call_timeout(lease_us)))
        .build()
        .into();
    let lease = Duration::from_micros(lease_us.max(0) as u64);
    let mut done = 0;
    for job in jobs {
        if claimed.elapsed() + call_timeout(lease_us) >= lease {
            // A call begun now could outlive the claim, and another node may take it then:
            // left to whoever claims it when this lease ends.
            break;
        }
        let Ok(Some(task)) = store.task(job.instance, job.item) else {
            continue;
        };
        if task.status != "open" {
            continue;
        }
        let Some(url) = task
            .topic
            .as_deref()
            .and_then(|t| t.strip_prefix("webhook:"))
        else {
            continue;
        };
        let variables = store
            .instance(task.instance)
            .ok()
            .flatten()
            .map(|i| i.state.variables)
            .unwrap_or_default();
        let key = format!("wf-{}-{}", task.instance, task.task);
        let body = json!({
            "instance": task.instance,
            "task": format!("{}-{}", task.instance, task.task),
            "step": task.node,
            "variables": variables,
        });
        let outcome = agent
            .post(url)
            .header("Idempotency-Key", &key)
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .map_err(|e| e.to_string())
            .and_then(|mut response| {
                let status = response.status();
                let text = response.body_mut().read_to_string().unwrap_or_default();
                if status.is_success() {
                    Ok(text)
                } else {
                    Err(format!("{url} answered {status}"))
                }
            });
        match outcome {
            Ok(text) => {
                let result: Map<String, Value> = match serde_json::from_str(&text) {
                    Ok(Value::Object(map)) => map,
                    _ => Map::new(),
                };
                match store.advance(
                    task.instance,
                    Command::Complete {
                        task: task.task,
                        variables: result,
                    },
                    "system",
                    now_us,
                ) {
                    Ok(_) => done += 1,
                    Err(error) => {
                        tracing::warn!(instance = task.instance, %error, "a webhook's answer could not complete its task")
                    }
                }
            }
            Err(error) => {
                let attempts = store
                    .webhook_attempts(task.instance, task.task)
                    .ok()
                    .flatten()
                    .map_or(0, |(a, _)| a);
                let wait = base
                    .saturating_mul(2u32.saturating_pow(attempts.clamp(0, 20) as u32))
                    .min(Duration::from_secs(3600));
                let next = now_us + wait.as_micros() as i64;
                let _ = store.webhook_failed(task.instance, task.task, &error, next);
                tracing::warn!(instance = task.instance, task = task.task, %error, retry_in_ms = wait.as_millis() as u64, "a webhook call failed; trying again");
            }
        }
    }
    done
}

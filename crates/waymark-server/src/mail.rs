//! Email from send tasks, and the signed links in them.
//!
//! A send task whose topic is `email:TEMPLATE` is carried out by the server: it writes to the
//! person the task names (`waymark:to`, else the requester) through SMTP, with a link that opens
//! their next step in the request without signing in. The link is signed (HMAC-SHA256 with a
//! secret kept in the database) and expires. After the message is handed to the SMTP server the
//! task is completed. Delivery is at least once: a crash between the two sends the message again
//! after a restart, with the same `Message-ID`, so mail systems can drop the copy.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use lettre::message::Mailbox;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};
use serde_json::{Map, Value, json};
use sha2::Sha256;
use waymark_store::prelude::*;
use waymark_store::workflow::JobKind;
use waymark_workflow::engine::Command;

/// How long an emailed link works.
pub const LINK_DAYS: i64 = 14;
const DAY_US: i64 = 86_400_000_000;

/// Signs and checks links that act for one person on one request (and, with keys of their own,
/// sign-in and survey links). A link is a JSON Web Token (HS256, through the `jsonwebtoken`
/// crate) whose header names the key that signed it (`kid`), so keys can rotate: the newest key
/// signs, and every key still held verifies. Links made before tokens carried a key id (a
/// payload and an HMAC tag) are still read, until they expire.
#[derive(Clone)]
pub struct Links {
    /// (key id, secret), newest first.
    keys: Vec<(String, Vec<u8>)>,
}

impl std::fmt::Debug for Links {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Links")
            .field(
                "key_ids",
                &self.keys.iter().map(|(kid, _)| kid).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// What a valid link allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub instance: i64,
    pub person: String,
    pub expires_us: i64,
}

/// Why a link does not work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkError {
    Forged,
    Expired,
}

type Signer = Hmac<Sha256>;

/// What a link's token carries: the signed text.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Claims {
    t: String,
}

impl Links {
    /// One key, as kept before keys rotated (its id is `1`).
    pub fn new(secret: &str) -> Links {
        Links::with_keys(vec![("1".to_string(), secret.to_string())])
    }

    /// Keys by id, newest first: the first signs, all verify.
    pub fn with_keys(keys: Vec<(String, String)>) -> Links {
        Links {
            keys: keys
                .into_iter()
                .map(|(kid, secret)| (kid, secret.into_bytes()))
                .collect(),
        }
    }

    /// The id of the key that signs now.
    pub fn key_id(&self) -> &str {
        self.keys.first().map_or("", |(kid, _)| kid.as_str())
    }

    /// Signs any text, as a token naming the key.
    pub fn sign_text(&self, payload: &str) -> String {
        let Some((kid, secret)) = self.keys.first() else {
            return String::new();
        };
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some(kid.clone());
        let claims = Claims {
            t: payload.to_string(),
        };
        jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret),
        )
        .unwrap_or_default()
    }

    /// The text of a token [`Links::sign_text`] made with one of these keys.
    pub fn check_text(&self, token: &str) -> Result<String, LinkError> {
        if token.matches('.').count() == 1 {
            return self.check_legacy(token);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| LinkError::Forged)?;
        if header.alg != jsonwebtoken::Algorithm::HS256 {
            return Err(LinkError::Forged);
        }
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        // Expiry is part of the signed text, checked by the caller against the server's clock.
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        // The named key first; then the others (a link signed where the key had another id).
        let named = self
            .keys
            .iter()
            .filter(|(kid, _)| Some(kid) == header.kid.as_ref());
        let others = self
            .keys
            .iter()
            .filter(|(kid, _)| Some(kid) != header.kid.as_ref());
        for (_, secret) in named.chain(others) {
            if let Ok(data) = jsonwebtoken::decode::<Claims>(
                token,
                &jsonwebtoken::DecodingKey::from_secret(secret),
                &validation,
            ) {
                return Ok(data.claims.t);
            }
        }
        Err(LinkError::Forged)
    }

    /// A link made before tokens named their key: `base64(text).base64(HMAC tag)`.
    fn check_legacy(&self, token: &str) -> Result<String, LinkError> {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let (payload, tag) = token.split_once('.').ok_or(LinkError::Forged)?;
        let payload = b64.decode(payload).map_err(|_| LinkError::Forged)?;
        let tag = b64.decode(tag).map_err(|_| LinkError::Forged)?;
        let payload = String::from_utf8(payload).map_err(|_| LinkError::Forged)?;
        for (_, secret) in &self.keys {
            let Ok(mut mac) = Signer::new_from_slice(secret) else {
                continue;
            };
            mac.update(payload.as_bytes());
            // Constant-time comparison.
            if mac.verify_slice(&tag).is_ok() {
                return Ok(payload);
            }
        }
        Err(LinkError::Forged)
    }

    pub fn sign(&self, grant: &Grant) -> String {
        self.sign_text(&format!(
            "{}.{}.{}",
            grant.instance, grant.expires_us, grant.person
        ))
    }

    pub fn check(&self, token: &str, now_us: i64) -> Result<Grant, LinkError> {
        let payload = self.check_text(token)?;
        let mut parts = payload.splitn(3, '.');
        let instance = parts.next().and_then(|p| p.parse().ok());
        let expires_us = parts.next().and_then(|p| p.parse().ok());
        let person = parts.next().map(str::to_string);
        let (Some(instance), Some(expires_us), Some(person)) = (instance, expires_us, person)
        else {
            return Err(LinkError::Forged);
        };
        if now_us > expires_us {
            return Err(LinkError::Expired);
        }
        Ok(Grant {
            instance,
            person,
            expires_us,
        })
    }
}

/// Sends the email of send tasks through an SMTP server, or keeps it in the app.
#[derive(Debug)]
pub struct Mailer {
    transport: Delivery,
    from: Mailbox,
    /// Where people reach this server, for the links: `https://waymark.example.com`.
    public_url: String,
}

/// Where mail goes: an SMTP server, or the mailbox kept in the app (`waymark demo`, which has no
/// mail server: people read what was sent to them in the web app).
enum Delivery {
    Smtp(SmtpTransport),
    Mailbox(std::sync::Arc<dyn Store>),
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Delivery::Smtp(_) => "Delivery::Smtp",
            Delivery::Mailbox(_) => "Delivery::Mailbox",
        })
    }
}

impl Mailer {
    /// `smtp_url` is `smtp://host:port` (a relay on the same host or network, without TLS),
    /// `smtp://user:password@host:587?tls=required` (STARTTLS; `tls=opportunistic` when the relay
    /// may not offer it) or `smtps://user:password@host` (TLS from the start, port 465). The
    /// server's certificate is checked against the Mozilla roots built in, or only against the
    /// CA certificates of `roots` (PEM) for a private CA.
    ///
    /// `lease_us` is how long a claimed message is this node's (`--takeover-after`): each step
    /// of an SMTP conversation gives up after a twelfth of half of it.
    pub fn new(
        smtp_url: &str,
        from: &str,
        public_url: &str,
        roots: Option<&str>,
        lease_us: i64,
    ) -> Result<Mailer, String> {
        let hint = "write smtp://host:port, smtp://user:password@host:587?tls=required or smtps://user:password@host";
        let url = url::Url::parse(smtp_url)
            .map_err(|e| format!("`{smtp_url}` is not an SMTP address ({e}); {hint}"))?;
        if !matches!(url.scheme(), "smtp" | "smtps") {
            return Err(format!("`{smtp_url}` is not an SMTP address; {hint}"));
        }
        let host = url
            .host_str()
            .ok_or_else(|| format!("`{smtp_url}` names no host; {hint}"))?
            .to_string();
        let mode = url
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.to_string());
        if let Some(mode) = &mode
            && !matches!(mode.as_str(), "required" | "opportunistic")
        {
            return Err(format!(
                "`tls={mode}` in `{smtp_url}`: write tls=required or tls=opportunistic"
            ));
        }
        let mut builder = SmtpTransport::from_url(smtp_url)
            .map_err(|e| format!("`{smtp_url}` cannot be used: {e}; {hint}"))?
            .timeout(Some(step_timeout(lease_us)));
        if let Some(pem) = roots {
            let mut parameters =
                TlsParameters::builder(host).certificate_store(CertificateStore::None);
            let mut any = false;
            for block in pem.split_inclusive("-----END CERTIFICATE-----") {
                if !block.contains("-----BEGIN CERTIFICATE-----") {
                    continue;
                }
                let certificate = Certificate::from_pem(block.trim().as_bytes())
                    .map_err(|e| format!("a CA certificate cannot be read: {e}"))?;
                parameters = parameters.add_root_certificate(certificate);
                any = true;
            }
            if !any {
                return Err(
                    "the CA file holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
                );
            }
            let parameters = parameters
                .build()
                .map_err(|e| format!("the TLS settings cannot be used: {e}"))?;
            builder = match (url.scheme(), mode.as_deref()) {
                ("smtps", _) => builder.tls(Tls::Wrapper(parameters)),
                (_, Some("required")) => builder.tls(Tls::Required(parameters)),
                (_, Some(_)) => builder.tls(Tls::Opportunistic(parameters)),
                // Plain SMTP: the CA is not needed.
                _ => builder,
            };
        }
        let from: Mailbox = from
            .parse()
            .map_err(|e| format!("`{from}` is not a sender address: {e}"))?;
        Ok(Mailer {
            transport: Delivery::Smtp(builder.build()),
            from,
            public_url: public_url.trim_end_matches('/').to_string(),
        })
    }

    /// Mail kept in the app: each message lands in the mailbox of the person it is for.
    pub fn in_app(
        store: std::sync::Arc<dyn Store>,
        from: &str,
        public_url: &str,
    ) -> Result<Mailer, String> {
        let from: Mailbox = from
            .parse()
            .map_err(|e| format!("`{from}` is not a sender address: {e}"))?;
        Ok(Mailer {
            transport: Delivery::Mailbox(store),
            from,
            public_url: public_url.trim_end_matches('/').to_string(),
        })
    }

    /// Whether mail is kept in the app (people read it there) rather than sent.
    pub fn keeps_mail(&self) -> bool {
        matches!(self.transport, Delivery::Mailbox(_))
    }

    /// Sends one message to `user`; `message_id` makes a second delivery of it a copy.
    fn deliver(
        &self,
        user: &waymark_store::workflow::User,
        subject: &str,
        body: String,
        message_id: String,
        now_us: i64,
    ) -> Result<(), String> {
        let to = mailbox(user)?;
        match &self.transport {
            Delivery::Smtp(transport) => {
                let message = Message::builder()
                    .from(self.from.clone())
                    .to(to)
                    .subject(subject)
                    .message_id(Some(message_id))
                    .body(body)
                    .map_err(|e| e.to_string())?;
                transport
                    .send(&message)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
            Delivery::Mailbox(store) => store
                .deliver(&waymark_store::mailbox::Mail {
                    id: 0,
                    user: user.id.clone(),
                    address: to.to_string(),
                    subject: subject.to_string(),
                    body,
                    message_id,
                    sent_us: now_us,
                })
                .map_err(|e| e.to_string()),
        }
    }
}

impl Mailer {
    /// Where people reach this server, for links.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// Sends a plain-text message to a person in the directory.
    pub fn send_to(
        &self,
        user: &waymark_store::workflow::User,
        subject: &str,
        body: String,
    ) -> Result<(), String> {
        let now = crate::Clock::now_us(&crate::SystemClock);
        let message_id = format!(
            "<{}@waymark>",
            waymark_store::keys::random_hex(12).map_err(|e| e.to_string())?
        );
        self.deliver(user, subject, body, message_id, now)
    }
}

fn mailbox(user: &waymark_store::workflow::User) -> Result<Mailbox, String> {
    let address = user
        .email
        .clone()
        .ok_or_else(|| format!("`{}` has no email address in the directory", user.id))?;
    format!("{} <{address}>", user.name)
        .parse()
        .or_else(|_| address.parse())
        .map_err(|e| format!("`{address}`: {e}"))
}

/// Sends the email of every open `email:` task, then completes each. Returns how many were sent.
/// What signs the links in emails: a request's steps, and surveys.
#[derive(Debug, Clone, Copy)]
pub struct Signers<'a> {
    pub links: &'a Links,
    pub surveys: &'a crate::feedback::Surveys,
    /// Nobody is asked for feedback more than once in this long (µs), across all touchpoints.
    pub survey_quiet_us: i64,
}

/// The survey an email's topic asks for: `email:TEMPLATE?survey=JOURNEY/TOUCHPOINT`.
pub fn survey_of(topic: &str) -> Option<(&str, &str)> {
    let (_, rest) = topic.split_once("?survey=")?;
    let (journey, touchpoint) = rest.split_once('/')?;
    (!journey.is_empty() && !touchpoint.is_empty()).then_some((journey, touchpoint))
}

/// How long one SMTP conversation may take: half a claim, two minutes at most.
fn conversation(lease_us: i64) -> std::time::Duration {
    std::time::Duration::from_micros((lease_us / 2).max(1) as u64)
        .min(std::time::Duration::from_secs(120))
}

/// The timeout of each read or write of the conversation (lettre's timeout is per operation,
/// not for the whole message): a conversation (greeting, EHLO, STARTTLS, AUTH, MAIL, RCPT,
/// DATA, the message) of a dozen operations stays within [`conversation`].
fn step_timeout(lease_us: i64) -> std::time::Duration {
    conversation(lease_us) / 12
}

/// Sends the email of every due send task, each claimed first (found by due time, leased to
/// this node for `lease_us`). Returns how many went out. One that fails is due again when its
/// lease ends. The mailer gives up on a message within half the lease (see [`Mailer::new`]), and
/// no message is begun that could outlive its claim: another node may take it then.
pub fn send_due(
    store: &dyn Store,
    mailer: &Mailer,
    signers: &Signers,
    now_us: i64,
    lease_us: i64,
) -> usize {
    // Counted from before the claim: the claim ends `lease_us` after `now_us` at the latest.
    let claimed = std::time::Instant::now();
    let Ok(jobs) = store.claim_jobs(JobKind::Mail, now_us, lease_us, 64) else {
        return 0;
    };
    let lease = std::time::Duration::from_micros(lease_us.max(0) as u64);
    let mut sent = 0;
    for job in jobs {
        if claimed.elapsed() + conversation(lease_us) >= lease {
            // Left to whoever claims it when this lease ends.
            break;
        }
        let Ok(Some(task)) = store.task(job.instance, job.item) else {
            continue;
        };
        if task.status != "open" {
            continue;
        }
        match send_one(store, mailer, signers, &task, now_us) {
            Ok(()) => sent += 1,
            Err(error) => {
                tracing::warn!(instance = task.instance, task = task.task, attempts = job.attempts, %error, "an email could not be sent; trying again when its lease ends");
            }
        }
    }
    sent
}

fn send_one(
    store: &dyn Store,
    mailer: &Mailer,
    signers: &Signers,
    task: &waymark_store::workflow::TaskRow,
    now_us: i64,
) -> Result<(), String> {
    let instance = store
        .instance(task.instance)
        .map_err(|e| e.to_string())?
        .ok_or("the instance is gone")?;
    let person = task
        .assignee
        .clone()
        .unwrap_or_else(|| instance.requester.clone());
    let user = store
        .user(&person)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("`{person}` is not in the directory"))?;
    let grant = Grant {
        instance: task.instance,
        person: person.clone(),
        expires_us: now_us + LINK_DAYS * DAY_US,
    };
    // The page of the web app; the same token works on `/v1/links/` for programs.
    let link = format!("{}/links/{}", mailer.public_url, signers.links.sign(&grant));
    // A survey about a touchpoint, when the step asks for one: a link of its own.
    let asked = |journey: &str, touchpoint: &str| {
        // The same email sent again (after a crash) asks again; another one waits its turn.
        let key = format!("mail-{}-{}", task.instance, task.task);
        match store.ask_survey(&person, &key, now_us, signers.survey_quiet_us) {
            Ok(None) => true,
            Ok(Some(last)) => {
                tracing::info!(%journey, %touchpoint, last = %waymark_eventlog::time::format_micros(last), "no survey in this email: the person was asked lately");
                false
            }
            Err(error) => {
                tracing::warn!(%error, "the last survey ask could not be read; no survey in this email");
                false
            }
        }
    };
    let survey = task
        .topic
        .as_deref()
        .and_then(survey_of)
        .filter(|(journey, touchpoint)| asked(journey, touchpoint))
        .map(|(journey, touchpoint)| {
        let survey = crate::feedback::Survey {
            journey: journey.to_string(),
            touchpoint: touchpoint.to_string(),
            person: person.clone(),
            expires_us: now_us + crate::feedback::SURVEY_DAYS * DAY_US,
        };
        format!(
            "How did it go? Tell us in a minute (three quick questions; this link is yours alone):\n{}/feedback/{}\n\n",
            mailer.public_url,
            signers.surveys.sign(&survey)
        )
    });
    let first_name = user
        .name
        .split_whitespace()
        .next()
        .unwrap_or(&user.name)
        .to_string();
    let expires = waymark_eventlog::time::format_micros(grant.expires_us);
    let body = format!(
        "Hello {first_name},\n\n{}.\n\nRequest {} ({}), started by {}.\n\nOpen it here (this link is yours alone and works until {}):\n{link}\n\n{}— Waymark\n",
        task.name,
        instance.id,
        instance.process,
        instance.requester,
        expires.get(..10).unwrap_or(&expires),
        survey.unwrap_or_default(),
    );
    let message_id = format!("<wf-{}-{}@waymark>", task.instance, task.task);
    mailer.deliver(&user, &task.name, body, message_id.clone(), now_us)?;
    let mut result = Map::new();
    result.insert("emailedTo".into(), Value::from(person));
    result.insert("messageId".into(), Value::from(message_id));
    store
        .advance(
            task.instance,
            Command::Complete {
                task: task.task,
                variables: result,
            },
            "system",
            now_us,
        )
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// The person's open step in a request, for a link emailed to them. The email leaves before
/// the step that sent it commits (so a failed send is tried again), and that step is what opens
/// the next one: while an email step for this person is still open, the link waits for it, up
/// to two seconds, rather than say there is nothing to do.
pub fn step_for(
    store: &dyn Store,
    instance: i64,
    user: &waymark_store::workflow::User,
) -> Result<Option<waymark_store::workflow::TaskRow>, waymark_store::StoreError> {
    let requester = store.instance(instance).ok().flatten().map(|i| i.requester);
    for _ in 0..40 {
        let tasks = store.instance_tasks(instance)?;
        if let Some(open) = tasks
            .iter()
            .find(|t| t.status == "open" && t.kind == "user" && t.is_for(user))
        {
            return Ok(Some(open.clone()));
        }
        let sending = tasks.iter().any(|t| {
            t.status == "open"
                && t.topic
                    .as_deref()
                    .is_some_and(|topic| topic.starts_with("email:"))
                && t.assignee.as_deref().or(requester.as_deref()) == Some(user.id.as_str())
        });
        if !sending {
            return Ok(None);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Ok(None)
}

/// What a link shows: the request and the person's open step in it.
pub fn link_view(store: &dyn Store, grant: &Grant) -> Result<Value, String> {
    let instance = store
        .instance(grant.instance)
        .map_err(|e| e.to_string())?
        .ok_or("the request is gone")?;
    let user = store.user(&grant.person).map_err(|e| e.to_string())?;
    let open = match &user {
        Some(user) => step_for(store, grant.instance, user).map_err(|e| e.to_string())?,
        None => None,
    };
    Ok(json!({
        "request": instance.id,
        "process": instance.process,
        "status": instance.status,
        "person": grant.person,
        "expires": waymark_eventlog::time::format_micros(grant.expires_us),
        "task": open.map(|t| json!({
            "id": format!("{}-{}", t.instance, t.task),
            "step": t.node,
            "name": t.name,
            "form": t.form,
        })),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Links are tokens that name their key: after a rotation the newest key signs and the
    /// older ones still verify; a link made before tokens named keys still reads; anything else,
    /// or a link signed with a key not held, is forged.
    #[test]
    fn links_name_their_key_and_survive_a_rotation() {
        let grant = Grant {
            instance: 7,
            person: "jennifer".into(),
            expires_us: 2_000,
        };
        let before = Links::with_keys(vec![("links-1".into(), "first secret".into())]);
        let old = before.sign(&grant);
        let header = jsonwebtoken::decode_header(&old).expect("a JWT");
        assert_eq!(header.kid.as_deref(), Some("links-1"));
        assert_eq!(header.alg, jsonwebtoken::Algorithm::HS256);
        let after = Links::with_keys(vec![
            ("links-2".into(), "second secret".into()),
            ("links-1".into(), "first secret".into()),
        ]);
        assert_eq!(
            after.check(&old, 1_000),
            Ok(grant.clone()),
            "old links still work"
        );
        let new = after.sign(&grant);
        assert_eq!(
            jsonwebtoken::decode_header(&new)
                .expect("a JWT")
                .kid
                .as_deref(),
            Some("links-2")
        );
        assert_eq!(after.check(&new, 3_000), Err(LinkError::Expired));
        // Retired: only the new key is held.
        let retired = Links::with_keys(vec![("links-2".into(), "second secret".into())]);
        assert_eq!(retired.check(&old, 1_000), Err(LinkError::Forged));
        assert_eq!(retired.check(&new, 1_000), Ok(grant.clone()));
        // A link of the format before key ids: base64(text).base64(HMAC-SHA256 tag).
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let text = "7.2000.jennifer";
        let mut mac = Signer::new_from_slice(b"first secret").expect("key");
        mac.update(text.as_bytes());
        let legacy = format!(
            "{}.{}",
            b64.encode(text),
            b64.encode(mac.finalize().into_bytes())
        );
        assert_eq!(after.check(&legacy, 1_000), Ok(grant.clone()));
        // Changed in any part, or another algorithm named: forged.
        let mut tampered = new.clone();
        tampered.insert(tampered.len() - 3, 'x');
        assert_eq!(after.check(&tampered, 1_000), Err(LinkError::Forged));
        let none_alg = format!(
            "{}.{}.",
            b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
            new.split('.').nth(1).expect("claims")
        );
        assert_eq!(after.check(&none_alg, 1_000), Err(LinkError::Forged));
    }

    fn mailer(url: &str, roots: Option<&str>) -> Result<Mailer, String> {
        Mailer::new(
            url,
            "HR <hr@example.com>",
            "https://waymark.example",
            roots,
            60_000_000,
        )
    }

    #[test]
    fn smtp_addresses_with_and_without_tls() {
        for url in [
            "smtp://127.0.0.1:2525",
            "smtp://relay.example",
            "smtp://user:secret@relay.example:587?tls=required",
            "smtp://relay.example?tls=opportunistic",
            "smtps://user:secret@relay.example",
        ] {
            assert!(mailer(url, None).is_ok(), "{url}");
        }
        for (url, says) in [
            ("http://relay.example", "not an SMTP address"),
            ("relay.example:25", "not an SMTP address"),
            ("smtp://relay.example?tls=maybe", "tls=maybe"),
            ("smtp://", "names no host"),
        ] {
            let problem = mailer(url, None).expect_err(url);
            assert!(problem.contains(says), "{url}: {problem}");
        }
        let problem = Mailer::new(
            "smtp://relay.example",
            "not an address",
            "x",
            None,
            60_000_000,
        )
        .expect_err("sender");
        assert!(problem.contains("sender"), "{problem}");
    }

    #[test]
    fn an_email_topic_may_ask_for_a_survey() {
        assert_eq!(
            survey_of("email:training-approved?survey=training-request/request-training-form"),
            Some(("training-request", "request-training-form"))
        );
        assert_eq!(survey_of("email:training-approved"), None);
        assert_eq!(survey_of("email:x?survey=no-touchpoint"), None);
        assert_eq!(survey_of("email:x?survey=/t"), None);
    }

    #[test]
    fn a_ca_file_must_hold_certificates() {
        let problem =
            mailer("smtps://relay.example", Some("not a certificate")).expect_err("no certificate");
        assert!(problem.contains("no PEM certificate"), "{problem}");
        let problem = mailer(
            "smtps://relay.example",
            Some("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n"),
        )
        .expect_err("bad certificate");
        assert!(problem.contains("cannot be read"), "{problem}");
    }
}

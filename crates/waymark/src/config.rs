//! Settings for `waymark serve`: flags, then `WAYMARK_*` variables (both through clap), then an
//! optional TOML file, then the defaults.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;
use waymark_eventlog::Place;
use waymark_store::Location;

use crate::cli::ServeArgs;

/// What a config file may set. Unknown keys are refused, so a typo is not silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct File {
    db: Option<Location>,
    listen: Option<String>,
    admin_token: Option<String>,
    write_key: Option<String>,
    server_key: Option<String>,
    identifier_traits: Option<Vec<String>>,
    smtp_url: Option<String>,
    mail_from: Option<String>,
    public_url: Option<String>,
    tls_ca: Option<PathBuf>,
    takeover_after: Option<u64>,
    alert_every: Option<u64>,
    survey_every: Option<u64>,
}

/// The settings the server runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub db: Location,
    pub listen: String,
    pub admin_token: Option<String>,
    pub write_key: Option<String>,
    pub server_key: Option<String>,
    pub identifier_traits: Vec<String>,
    pub smtp_url: Option<String>,
    pub mail_from: String,
    pub public_url: Option<String>,
    pub tls_ca: Option<PathBuf>,
    /// How long claimed work waits for a node that died.
    pub takeover_after: std::time::Duration,
    /// How often the alert rules are checked.
    pub alert_every: std::time::Duration,
    /// How long a person is not asked for feedback again.
    pub survey_every: std::time::Duration,
    /// Where the events are kept as well (`--events`; not read from the file).
    pub events: Option<waymark_clickhouse::Location>,
}

fn read(path: &Path) -> anyhow::Result<File> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    let mut file: File = toml::from_str(&text).map_err(|error| {
        let place = error
            .span()
            .map(|span| format!(":{}", Place::at(text.as_bytes(), span.start)))
            .unwrap_or_default();
        anyhow::anyhow!(
            "{}{place}: {}\nhint: the keys are db, listen, admin-token, write-key, server-key, identifier-traits, smtp-url, mail-from, public-url, tls-ca, takeover-after, alert-every and survey-every",
            path.display(),
            error.message()
        )
    })?;
    // A relative database path is relative to the config file, not to where the server starts.
    if let (Some(db), Some(directory)) = (file.db.take(), path.parent()) {
        file.db = Some(db.relative_to(directory));
    }
    if let (Some(ca), Some(directory)) = (&file.tls_ca, path.parent())
        && ca.is_relative()
    {
        file.tls_ca = Some(directory.join(ca));
    }
    Ok(file)
}

/// Flags and variables (already merged by clap) over the file over the defaults.
pub fn settings(args: ServeArgs) -> anyhow::Result<Settings> {
    let file = match &args.config {
        Some(path) => read(path)?,
        None => File::default(),
    };
    Ok(Settings {
        db: args
            .db
            .or(file.db)
            .unwrap_or_else(|| Location::File(PathBuf::from("waymark.db"))),
        listen: args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".to_string()),
        admin_token: args.admin_token.or(file.admin_token),
        write_key: args.write_key.or(file.write_key),
        server_key: args.server_key.or(file.server_key),
        identifier_traits: args
            .identifier_traits
            .or(file.identifier_traits)
            .unwrap_or_else(waymark_store::default_identifier_traits),
        smtp_url: args.smtp_url.or(file.smtp_url),
        mail_from: args
            .mail_from
            .or(file.mail_from)
            .unwrap_or_else(|| "Waymark <waymark@localhost>".to_string()),
        public_url: args.public_url.or(file.public_url),
        tls_ca: args.tls_ca.or(file.tls_ca),
        takeover_after: takeover(
            args.takeover_after.or(file.takeover_after),
            args.config.as_deref(),
        )?,
        alert_every: alert_every(
            args.alert_every.or(file.alert_every),
            args.config.as_deref(),
        )?,
        survey_every: survey_every(
            args.survey_every.or(file.survey_every),
            args.config.as_deref(),
        )?,
        events: args.events,
    })
}

/// `survey-every` in days, within [`crate::cli::SURVEY_DAYS`] (the flag is checked by clap; the
/// file here).
fn survey_every(days: Option<u64>, file: Option<&Path>) -> anyhow::Result<std::time::Duration> {
    let Some(days) = days else {
        return Ok(waymark_server::DEFAULT_SURVEY_EVERY);
    };
    let range = crate::cli::SURVEY_DAYS;
    if range.contains(&days) {
        return Ok(std::time::Duration::from_secs(days * 86_400));
    }
    let place = file
        .map(|f| format!("{}: ", f.display()))
        .unwrap_or_default();
    anyhow::bail!(
        "{place}survey-every = {days}: write a number of days from {} to {}",
        range.start(),
        range.end()
    )
}

/// `alert-every` in seconds, within [`crate::cli::ALERT_SECONDS`] (the flag is checked by clap;
/// the file here).
fn alert_every(seconds: Option<u64>, file: Option<&Path>) -> anyhow::Result<std::time::Duration> {
    let Some(seconds) = seconds else {
        return Ok(waymark_server::DEFAULT_ALERT_EVERY);
    };
    let range = crate::cli::ALERT_SECONDS;
    if range.contains(&seconds) {
        return Ok(std::time::Duration::from_secs(seconds));
    }
    let place = file
        .map(|f| format!("{}: ", f.display()))
        .unwrap_or_default();
    anyhow::bail!(
        "{place}alert-every = {seconds}: write a number of seconds from {} to {}",
        range.start(),
        range.end()
    )
}

/// `takeover-after` in seconds, within [`crate::cli::TAKEOVER_SECONDS`] (the flag is checked by
/// clap; the file here).
fn takeover(seconds: Option<u64>, file: Option<&Path>) -> anyhow::Result<std::time::Duration> {
    let Some(seconds) = seconds else {
        return Ok(waymark_server::DEFAULT_TAKEOVER);
    };
    let range = crate::cli::TAKEOVER_SECONDS;
    if range.contains(&seconds) {
        return Ok(std::time::Duration::from_secs(seconds));
    }
    let place = file
        .map(|f| format!("{}: ", f.display()))
        .unwrap_or_default();
    anyhow::bail!(
        "{place}takeover-after = {seconds}: write a number of seconds from {} to {}",
        range.start(),
        range.end()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn args(flags: &[&str]) -> ServeArgs {
        let cli = crate::cli::Cli::try_parse_from(
            ["waymark", "serve"].iter().chain(flags.iter()).copied(),
        )
        .expect("flags parse");
        match cli.command {
            crate::cli::Command::Serve(args) => args,
            _ => unreachable!("serve"),
        }
    }

    fn config_file(name: &str, text: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("waymark-config-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("waymark.toml");
        std::fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn the_defaults_work_without_a_file() {
        let settings = settings(args(&[])).expect("settings");
        assert_eq!(settings.db, Location::File("waymark.db".into()));
        assert_eq!(settings.listen, "127.0.0.1:8080");
        assert_eq!(settings.identifier_traits, ["email", "phone"]);
        assert_eq!((settings.admin_token, settings.write_key), (None, None));
        assert_eq!(settings.takeover_after, waymark_server::DEFAULT_TAKEOVER);
    }

    #[test]
    fn the_takeover_is_seconds_within_bounds_from_a_flag_or_the_file() {
        let path = config_file("takeover", "takeover-after = 15\n");
        let config = path.display().to_string();
        let from_file = settings(args(&["--config", &config])).expect("settings");
        assert_eq!(from_file.takeover_after, std::time::Duration::from_secs(15));
        let flagged =
            settings(args(&["--config", &config, "--takeover-after", "5"])).expect("settings");
        assert_eq!(flagged.takeover_after, std::time::Duration::from_secs(5));
        let short = config_file("takeover-short", "takeover-after = 1\n");
        let error = settings(args(&["--config", &short.display().to_string()]))
            .expect_err("too short")
            .to_string();
        assert!(error.contains("takeover-after = 1"), "{error}");
        assert!(error.contains("from 2 to 86400"), "{error}");
        let refused =
            crate::cli::Cli::try_parse_from(["waymark", "serve", "--takeover-after", "0"]);
        assert!(refused.is_err(), "the flag is bounded too");
    }

    #[test]
    fn flags_win_over_the_file_which_wins_over_the_defaults() {
        let path = config_file(
            "precedence",
            "db = \"data/events.db\"\nlisten = \"0.0.0.0:9000\"\nwrite-key = \"from-file\"\nidentifier-traits = [\"email\", \"customer_number\"]\ntls-ca = \"certs/ca.pem\"\n",
        );
        let config = path.display().to_string();
        let from_file = settings(args(&["--config", &config])).expect("settings");
        let directory = path.parent().expect("dir");
        assert_eq!(
            from_file.db,
            Location::File(directory.join("data/events.db")),
            "relative to the file"
        );
        assert_eq!(from_file.listen, "0.0.0.0:9000");
        assert_eq!(from_file.tls_ca, Some(directory.join("certs/ca.pem")));
        assert_eq!(from_file.write_key.as_deref(), Some("from-file"));
        assert_eq!(from_file.identifier_traits, ["email", "customer_number"]);
        let flagged = settings(args(&[
            "--config",
            &config,
            "--listen",
            "127.0.0.1:0",
            "--identifier-traits",
            "phone",
        ]))
        .expect("settings");
        assert_eq!(flagged.listen, "127.0.0.1:0");
        assert_eq!(flagged.identifier_traits, ["phone"]);
        assert_eq!(flagged.write_key.as_deref(), Some("from-file"));
    }

    #[test]
    fn a_bad_key_is_named_with_its_place_and_a_hint() {
        let path = config_file("bad", "listen = \"127.0.0.1:1\"\nwritekey = \"x\"\n");
        let error = settings(args(&["--config", &path.display().to_string()]))
            .expect_err("unknown key")
            .to_string();
        assert!(
            error.contains(&format!("{}:2:1", path.display())),
            "{error}"
        );
        assert!(error.contains("writekey"), "{error}");
        assert!(error.contains("hint: the keys are"), "{error}");
        let missing = settings(args(&["--config", "/nonexistent/waymark.toml"]))
            .expect_err("missing file")
            .to_string();
        assert!(missing.contains("/nonexistent/waymark.toml"), "{missing}");
    }
}

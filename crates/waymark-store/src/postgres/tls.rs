//! How a node reaches PostgreSQL: the client's settings from the URL (a password it does not
//! give comes from `PGPASSWORD`), and TLS when the URL asks for it.
//!
//! `sslmode=require`, `verify-ca` or `verify-full` connect over TLS and verify the server's
//! certificate and name (as libpq's `verify-full`) against the Mozilla roots and the CA file
//! `sslrootcert=PATH` names; a server that offers no TLS is refused. Without `sslmode`, or with
//! `disable`, `allow` or `prefer`, the connection is plain, as before: Waymark never encrypts
//! without verifying, since that protects against no one who can intercept.

use std::sync::Arc;

use tokio_postgres_rustls::MakeRustlsConnect;

use crate::StoreError;

/// The client's settings and, when asked for, TLS.
pub(crate) struct Connect {
    pub(crate) config: tokio_postgres::Config,
    pub(crate) tls: Option<MakeRustlsConnect>,
}

fn refused(what: String) -> StoreError {
    StoreError::Database(format!(
        "{what}\nhint: postgres://user@host:port/database, with ?sslmode=require&sslrootcert=/path/to/ca.pem for TLS"
    ))
}

/// Reads a `postgres://` URL; a password it does not give comes from `PGPASSWORD`.
pub(crate) fn read(url: &str) -> Result<Connect, StoreError> {
    read_with(url, std::env::var("PGPASSWORD").ok())
}

/// [`read`], with `PGPASSWORD`'s value given.
fn read_with(url: &str, password: Option<String>) -> Result<Connect, StoreError> {
    let mut parsed = url::Url::parse(url)
        .map_err(|error| refused(format!("the PostgreSQL URL does not read: {error}")))?;
    let mut mode: Option<String> = None;
    let mut root: Option<String> = None;
    let mut kept: Vec<(String, String)> = Vec::new();
    for (name, value) in parsed.query_pairs() {
        match name.as_ref() {
            "sslmode" => mode = Some(value.into_owned()),
            "sslrootcert" => root = Some(value.into_owned()),
            _ => kept.push((name.into_owned(), value.into_owned())),
        }
    }
    let verified = match mode.as_deref() {
        None | Some("disable" | "allow" | "prefer") => false,
        Some("require" | "verify-ca" | "verify-full") => true,
        Some(other) => {
            return Err(refused(format!(
                "sslmode `{other}` is not one of disable, allow, prefer, require, verify-ca, verify-full"
            )));
        }
    };
    if root.is_some() && !verified {
        return Err(refused(
            "sslrootcert is given without sslmode=require (or verify-ca, verify-full): say that TLS is wanted".into(),
        ));
    }
    // The client reads the rest; TLS is required of the server when asked for.
    parsed.set_query(None);
    if verified {
        kept.push(("sslmode".into(), "require".into()));
    }
    if !kept.is_empty() {
        parsed.query_pairs_mut().extend_pairs(kept);
    }
    let mut config: tokio_postgres::Config = parsed
        .as_str()
        .parse()
        .map_err(|error| refused(format!("the PostgreSQL URL does not read: {error}")))?;
    if config.get_password().is_none()
        && let Some(password) = password
    {
        config.password(password);
    }
    let tls = if verified {
        Some(connector(root.as_deref())?)
    } else {
        None
    };
    Ok(Connect { config, tls })
}

/// TLS that verifies the server against the Mozilla roots and the CA file at `root`.
fn connector(root: Option<&str>) -> Result<MakeRustlsConnect, StoreError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = root {
        let mut found = 0;
        for certificate in CertificateDer::pem_file_iter(path)
            .map_err(|error| refused(format!("sslrootcert {path}: {error}")))?
        {
            let certificate =
                certificate.map_err(|error| refused(format!("sslrootcert {path}: {error}")))?;
            roots
                .add(certificate)
                .map_err(|error| refused(format!("sslrootcert {path}: {error}")))?;
            found += 1;
        }
        if found == 0 {
            return Err(refused(format!(
                "sslrootcert {path}: no PEM certificate in it"
            )));
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|error| refused(format!("TLS: {error}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_unless_tls_is_asked_for_and_then_verified() {
        for url in [
            "postgres://u@h:5432/d",
            "postgres://u@h:5432/d?sslmode=disable",
            "postgres://u@h:5432/d?sslmode=prefer&application_name=w",
        ] {
            assert!(read(url).expect(url).tls.is_none(), "{url}");
        }
        for url in [
            "postgres://u@h:5432/d?sslmode=require",
            "postgres://u@h:5432/d?sslmode=verify-full",
        ] {
            let connect = read(url).expect(url);
            assert!(connect.tls.is_some(), "{url}");
            assert_eq!(
                connect.config.get_ssl_mode(),
                tokio_postgres::config::SslMode::Require,
                "{url}"
            );
        }
    }

    #[test]
    fn a_password_not_in_the_url_comes_from_pgpassword() {
        let given = read_with("postgres://u@h/d", Some("from-env".into())).expect("read");
        assert_eq!(given.config.get_password(), Some(&b"from-env"[..]));
        let own = read_with("postgres://u:in-url@h/d", Some("from-env".into())).expect("read");
        assert_eq!(own.config.get_password(), Some(&b"in-url"[..]));
        let none = read_with("postgres://u@h/d", None).expect("read");
        assert_eq!(none.config.get_password(), None);
    }

    #[test]
    fn a_bad_tls_setting_is_refused_naming_it() {
        let refused = |url: &str| match read(url) {
            Err(error) => error.to_string(),
            Ok(_) => panic!("{url} was taken"),
        };
        assert!(refused("postgres://u@h/d?sslmode=sometimes").contains("sslmode `sometimes`"));
        assert!(refused("postgres://u@h/d?sslrootcert=/ca.pem").contains("sslrootcert is given"));
        let missing = refused("postgres://u@h/d?sslmode=require&sslrootcert=/no/such/ca.pem");
        assert!(missing.contains("sslrootcert /no/such/ca.pem"), "{missing}");
    }
}

#[cfg(test)]
mod on_a_server {
    use super::super::PgStore;

    /// The test server's CA (`scripts/postgres` makes one); `None` outside CI when not given.
    fn test_ca() -> Option<String> {
        match std::env::var("WAYMARK_TEST_POSTGRES_CA") {
            Ok(path) => Some(path),
            Err(_) => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "WAYMARK_TEST_POSTGRES_CA is not set: CI tests TLS to PostgreSQL (scripts/test sets it)"
                );
                None
            }
        }
    }

    fn encrypted(store: &PgStore) -> bool {
        store
            .run(|pool| async move {
                let client = pool.get().await?;
                Ok(client
                    .query_one(
                        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                        &[],
                    )
                    .await?
                    .try_get(0)?)
            })
            .expect("ask the server")
    }

    #[test]
    fn tls_when_asked_verified_against_the_given_ca_and_plain_otherwise() {
        let (Some(url), Some(ca)) = (crate::testing::fresh_postgres(), test_ca()) else {
            return;
        };
        let store = PgStore::open(&format!("{url}?sslmode=require&sslrootcert={ca}"), vec![])
            .expect("TLS with the test CA");
        assert!(encrypted(&store), "the connection is encrypted");
        let plain = PgStore::open(&url, vec![]).expect("plain");
        assert!(!encrypted(&plain), "no TLS unless asked");
        // A server whose certificate no known CA signed is refused, and said so.
        match PgStore::open(&format!("{url}?sslmode=require"), vec![]) {
            Ok(_) => panic!("a certificate from an unknown CA was taken"),
            Err(error) => {
                let said = error.to_string();
                assert!(
                    said.to_lowercase().contains("certificate"),
                    "the refusal names the certificate: {said}"
                );
            }
        }
    }
}

//! Connection strings and connections. A [`ConnInfo`] is the only way a URL travels through
//! `cutover`: its `Display` never shows the password, so nothing that formats it can leak one.
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config};

use crate::error::{PgError, Result};
use crate::password::{read_password_file, PasswordOrigin};
use crate::tls::{SslMode, Tls, TlsOptions};

/// Which side a connection is for. Source sessions are read-only from the first statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Source,
    Target,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Source => "source",
            Role::Target => "target",
        })
    }
}

/// A parsed libpq-style connection string (URL or `key=value` form), with the password redacted
/// in every rendering.
#[derive(Clone)]
pub struct ConnInfo {
    config: Config,
    role: Role,
    /// `sslmode` and certificates (see [`crate::tls`]), shared by the clones.
    tls: Arc<Tls>,
    /// Where the password came from (see [`crate::password`] for the precedence).
    password: PasswordOrigin,
}

impl ConnInfo {
    /// Parses a connection string. A password missing from it is taken from `PGPASSWORD`
    /// (or later [`ConnInfo::with_password_file`], or `.pgpass` at connect time); `sslmode` and
    /// the certificates from its parameters or the `PGSSL*` variables.
    pub fn parse(text: &str, role: Role) -> Result<Self> {
        let invalid = |e: &dyn fmt::Display| {
            PgError::config(format!(
                "invalid {role} connection string `{}`: {e}",
                redact_text(text)
            ))
        };
        let (rest, tls_params) =
            crate::conn_params::split_tls_params(text).map_err(|e| invalid(&e))?;
        let mut config = Config::from_str(&rest).map_err(|e| invalid(&e))?;
        let tls = TlsOptions::resolve(&tls_params).map_err(|e| invalid(&e))?;
        config.ssl_mode(tls.driver_mode());
        let mut password = PasswordOrigin::ConnString;
        if config.get_password().is_none() {
            password = PasswordOrigin::None;
            if let Ok(pw) = std::env::var("PGPASSWORD") {
                config.password(pw);
                password = PasswordOrigin::Env;
            }
        }
        if config.get_user().is_none() {
            if let Ok(user) = std::env::var("PGUSER").or_else(|_| std::env::var("USER")) {
                config.user(&user);
            }
        }
        if config.get_hosts().is_empty() {
            config.host("127.0.0.1");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        config.application_name(match role {
            Role::Source => "cutover (source, read-only)",
            Role::Target => "cutover (target)",
        });
        // Row-level security must not hide rows from cutover: a policy that filtered what the
        // source hands out (or what a merge may touch) would lose rows without a word, and
        // reconcile, reading through the same policy, would still say MATCH. Off, PostgreSQL
        // refuses such a query instead ("query would be affected by row-level security
        // policy"), as pg_dump has it. Options of the connection string come after, so
        // `options=-c row_security=on` deliberately reads what the policies show.
        // The engine's own idempotent DDL (IF NOT EXISTS, DROP … CASCADE) raises NOTICEs that
        // would only clutter the output.
        let options = match config.get_options() {
            Some(given) => format!("-c row_security=off {given}"),
            None => "-c row_security=off -c client_min_messages=warning".to_string(),
        };
        config.options(&options);
        Ok(ConnInfo {
            config,
            role,
            tls: Arc::new(Tls::new(tls)),
            password,
        })
    }

    /// Takes the password from the first line of `file` (`--password-file`) unless the
    /// connection string has one: it wins over `PGPASSWORD` and `.pgpass`, as libpq's order is.
    pub fn with_password_file(mut self, file: Option<&Path>) -> Result<Self> {
        if let Some(file) = file {
            if self.password != PasswordOrigin::ConnString {
                let pw = read_password_file(file).map_err(PgError::config)?;
                self.config.password(pw);
                self.password = PasswordOrigin::File;
            }
        }
        Ok(self)
    }

    /// The `sslmode` in force (`require` with a root certificate is `verify-ca`).
    pub fn ssl_mode(&self) -> SslMode {
        self.tls.options.mode
    }

    /// Which side this is.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The database name (or the user name, as libpq defaults it).
    pub fn dbname(&self) -> String {
        self.config
            .get_dbname()
            .or(self.config.get_user())
            .unwrap_or("postgres")
            .to_string()
    }

    /// The same server, another database (for tests and tools that create databases).
    pub fn with_dbname(&self, db: &str) -> ConnInfo {
        let mut c = self.clone();
        c.config.dbname(db);
        c
    }

    /// Opens a connection; a source connection is made read-only before it is returned.
    pub async fn connect(&self) -> Result<Client> {
        let shown = format!("{} {self}", self.role);
        let client = crate::login::open(&self.config, &self.tls, &shown).await?;
        if self.role == Role::Source {
            client
                .batch_execute("SET default_transaction_read_only = on")
                .await
                .map_err(|e| {
                    PgError::db(
                        format!("cannot make the source session read-only ({self})"),
                        e,
                    )
                })?;
        }
        Ok(client)
    }
}

impl fmt::Display for ConnInfo {
    /// `postgres://user:***@host:port/db`: never the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("postgres://")?;
        if let Some(u) = self.config.get_user() {
            f.write_str(u)?;
            if self.config.get_password().is_some() {
                f.write_str(":***")?;
            }
            f.write_str("@")?;
        }
        match self.config.get_hosts().first() {
            Some(Host::Tcp(h)) => f.write_str(h)?,
            #[cfg(unix)]
            Some(Host::Unix(p)) => write!(f, "{}", p.display())?,
            None => {}
        }
        if let Some(p) = self.config.get_ports().first() {
            write!(f, ":{p}")?;
        }
        if let Some(db) = self.config.get_dbname() {
            write!(f, "/{db}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ConnInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnInfo({self})")
    }
}

/// Redacts a password from a connection string that could not be parsed (URL userinfo or a
/// `password=` pair), for error messages. The string is malformed, so this errs on the side of
/// hiding too much: the URL userinfo runs to the last `@` (a password may hold `/`, `?` or `@`),
/// and every `password` keyword is redacted, with spaces around `=` and quoted values.
pub fn redact_text(text: &str) -> String {
    let mut out = text.to_string();
    if let Some(scheme_end) = out.find("://") {
        let auth = scheme_end + 3;
        if let Some(at) = out[auth..].rfind('@') {
            if let Some(colon) = out[auth..auth + at].find(':') {
                out.replace_range(auth + colon + 1..auth + at, "***");
            }
        }
    }
    redact_keyword(&out, "password")
}

/// Replaces the value of every `key = value` pair (libpq syntax: spaces allowed around `=`, the
/// value unquoted up to a space or `&`, or single-quoted with backslash escapes) with `***`.
fn redact_keyword(text: &str, key: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let bytes = text.as_bytes();
    let skip_ws = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    let mut out = String::with_capacity(text.len());
    let (mut copied, mut from) = (0, 0);
    while let Some(pos) = lower[from..].find(key) {
        let mut i = skip_ws(from + pos + key.len());
        from += pos + key.len();
        if bytes.get(i) != Some(&b'=') {
            continue;
        }
        let start = skip_ws(i + 1);
        i = start;
        if bytes.get(i) == Some(&b'\'') {
            i += 1;
            while i < bytes.len() && bytes[i] != b'\'' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(bytes.len());
        } else {
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'&' {
                i += 1;
            }
        }
        out.push_str(&text[copied..start]);
        out.push_str("***");
        copied = i;
        from = i;
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_never_shows_the_password() {
        let c = ConnInfo::parse("postgres://bob:s3cret@db.example:5433/crm", Role::Source).unwrap();
        let shown = format!("{c} {c:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("postgres://bob:***@db.example:5433/crm"),
            "{shown}"
        );
    }

    #[test]
    fn redact_text_hides_url_and_keyword_passwords() {
        assert_eq!(redact_text("postgres://a:pw@h/db"), "postgres://a:***@h/db");
        assert_eq!(
            redact_text("host=h password=pw user=a"),
            "host=h password=*** user=a"
        );
        assert_eq!(redact_text("postgres://a@h/db"), "postgres://a@h/db");
    }

    /// Regression: a password written with spaces around `=`, quoted with a space, given twice,
    /// or holding a `/` leaked (whole or in part) into "invalid connection string" errors.
    #[test]
    fn redact_text_hides_every_way_of_writing_a_password() {
        for (text, shown) in [
            (
                "host=h password = pw port=x",
                "host=h password = *** port=x",
            ),
            ("host=h password='p w' port=x", "host=h password=*** port=x"),
            (
                r"host=h password='p\' w' port=x",
                "host=h password=*** port=x",
            ),
            ("password=a PASSWORD=pw", "password=*** PASSWORD=***"),
            ("postgres://a:p/w@h/db", "postgres://a:***@h/db"),
            (
                "postgres://a@h/db?password=x&password=pw&sslmode=y",
                "postgres://a@h/db?password=***&password=***&sslmode=y",
            ),
            ("host=h password='unterminated pw", "host=h password=***"),
            ("host=h password=", "host=h password=***"),
        ] {
            assert_eq!(redact_text(text), shown, "{text}");
        }
    }

    #[test]
    fn invalid_url_error_is_redacted() {
        let err =
            ConnInfo::parse("postgres://a:topsecret@h:notaport/db", Role::Target).unwrap_err();
        assert!(!err.to_string().contains("topsecret"), "{err}");
    }
}

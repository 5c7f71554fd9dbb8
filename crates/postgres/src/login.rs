//! Opening a session the way libpq does: TLS per `sslmode` (with the `prefer` and `allow`
//! second tries), the password from `.pgpass` when none was given, and connection errors that
//! say what to fix — classified as configuration errors, so nobody retries a wrong password or
//! a bad certificate.
use std::borrow::Cow;
use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinHandle;
use tokio_postgres::config::{Host, SslMode as DriverMode};
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, Config, Connection, NoTls, Socket};

use crate::error::{PgError, PgErrorKind};
use crate::password::{pgpass_password, pgpass_path, Target};
use crate::tls::{SslMode, Tls, TlsError};
use crate::wire::{connect_plain, opens_itself, ALREADY_TIMED_OUT};

/// Connects with `config` (its password not yet looked up in `.pgpass`) and `tls`; `shown` is
/// the redacted connection string for messages.
pub async fn open(config: &Config, tls: &Tls, shown: &str) -> Result<Client, PgError> {
    let config = with_pgpass(config);
    let mode = tls.options.mode;
    let connector = || {
        tls.connector()
            .map_err(|m| PgError::config(format!("cannot connect to {shown}: {m}")))
    };
    let first = match mode {
        SslMode::Disable | SslMode::Allow => spawn_plain(&config).await,
        _ => spawn(&config, connector()?).await,
    };
    let err = match first {
        Ok(client) => return Ok(client),
        Err(e) => e,
    };
    // libpq's second tries: `prefer` in plain text after a failed handshake or a TLS session
    // the server refused; `allow` with TLS after a plain session the server refused.
    let second = match mode {
        SslMode::Prefer if is_tls(&err) || is_refused(&err) => {
            tracing::debug!(error = %err, "TLS session failed; trying without TLS (sslmode=prefer)");
            let mut plain = config.into_owned();
            plain.ssl_mode(DriverMode::Disable);
            spawn_plain(&plain).await
        }
        SslMode::Allow if is_refused(&err) => {
            tracing::debug!(error = %err, "plain session refused; trying TLS (sslmode=allow)");
            let mut secure = config.into_owned();
            secure.ssl_mode(DriverMode::Require);
            spawn(&secure, connector()?).await
        }
        _ => return Err(describe(err, mode, shown)),
    };
    second.map_err(|e| describe(e, mode, shown))
}

/// Connects and drives the connection on its own task.
async fn spawn<T>(config: &Config, tls: T) -> Result<Client, tokio_postgres::Error>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
{
    let (client, connection) = config.connect(tls).await?;
    drive(connection);
    Ok(client)
}

/// The tasks driving the connections opened so far (finished ones are pruned as new ones
/// open), for [`close_all`].
static DRIVERS: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());

/// Drives a connection on its own task until it closes: once every handle of its client is
/// dropped, the driver sends the protocol's Terminate message and closes the socket.
fn drive<S, T>(connection: Connection<S, T>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let task = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "connection closed with an error");
        }
    });
    let mut drivers = DRIVERS.lock().unwrap_or_else(|e| e.into_inner());
    drivers.retain(|t| !t.is_finished());
    drivers.push(task);
}

/// Waits, at most `limit`, for every connection to close, which it does once its clients are
/// dropped. Call it when the command is done, before the runtime goes: a process that exits
/// with its sockets open ends each session without a Terminate message, and the server logs
/// "unexpected EOF on client connection with an open transaction" or "connection reset by
/// peer" for every one of them, on the source too, where a DBA watching the log during a
/// cutover would take them for a failure. Returns the connections still open at the limit.
pub async fn close_all(limit: Duration) -> usize {
    let tasks = std::mem::take(&mut *DRIVERS.lock().unwrap_or_else(|e| e.into_inner()));
    let deadline = tokio::time::Instant::now() + limit;
    let mut open = 0;
    for task in tasks {
        if tokio::time::timeout_at(deadline, task).await.is_err() {
            open += 1;
        }
    }
    open
}

/// Connects without TLS over a socket opened here (see [`crate::wire`]) when that is the
/// driver's behaviour too (one host, any session), else through the driver; when no host answers,
/// tokio-postgres tries again and words the failure (without waiting again for a host that
/// already timed out).
async fn spawn_plain(config: &Config) -> Result<Client, tokio_postgres::Error> {
    if !opens_itself(config) {
        return spawn(config, NoTls).await;
    }
    match connect_plain(config).await {
        Ok(Ok((client, connection))) => {
            drive(connection);
            Ok(client)
        }
        Ok(Err(e)) => Err(e),
        Err(e) => {
            let mut config = config.clone();
            if e.kind() == std::io::ErrorKind::TimedOut {
                config.connect_timeout(ALREADY_TIMED_OUT);
            }
            spawn(&config, NoTls).await
        }
    }
}

/// The config with the `.pgpass` password filled in, when it has none and the file has one.
fn with_pgpass(config: &Config) -> Cow<'_, Config> {
    if config.get_password().is_some() {
        return Cow::Borrowed(config);
    }
    let (Some(path), Some(user)) = (pgpass_path(), config.get_user()) else {
        return Cow::Borrowed(config);
    };
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.as_str(),
        // A socket directory matches `localhost`, as in libpq.
        _ => "localhost",
    };
    let target = Target {
        host,
        port: config.get_ports().first().copied().unwrap_or(5432),
        database: config.get_dbname().unwrap_or(user),
        user,
    };
    match pgpass_password(&path, target) {
        Some(pw) => {
            let mut c = config.clone();
            c.password(pw);
            Cow::Owned(c)
        }
        None => Cow::Borrowed(config),
    }
}

/// Our handshake failed (as opposed to the network or the server).
fn tls_error(err: &tokio_postgres::Error) -> Option<&TlsError> {
    std::error::Error::source(err).and_then(|s| s.downcast_ref::<TlsError>())
}

fn is_tls(err: &tokio_postgres::Error) -> bool {
    tls_error(err).is_some() || err.to_string() == "error performing TLS handshake"
}

/// The server refused the session (pg_hba.conf: SQLSTATE 28000).
fn is_refused(err: &tokio_postgres::Error) -> bool {
    err.code().map(|c| c.code()) == Some("28000")
}

/// The error of a failed connection, with a hint where one helps.
fn describe(err: tokio_postgres::Error, mode: SslMode, shown: &str) -> PgError {
    let context = format!("cannot connect to {shown}");
    if let Some(tls) = tls_error(&err) {
        return PgError::config(format!("{context}: {tls}"));
    }
    let tls = is_tls(&err);
    let text = format!("{err}: {}", source_text(&err));
    let refused = is_refused(&err);
    let mut e = PgError::db(context, err);
    if tls {
        e.kind = PgErrorKind::Config;
        e.detail = Some(format!(
            "sslmode={} needs TLS: enable ssl on the server or use sslmode=prefer",
            mode.as_str()
        ));
    } else if text.contains("password missing") {
        e.kind = PgErrorKind::Config;
        e.detail = Some(
            "the server asks for a password and none was given: put it in the URL, \
             --password-file, PGPASSWORD or ~/.pgpass"
                .into(),
        );
    } else if refused && mode == SslMode::Disable {
        e.detail = Some("the server may accept only TLS here: try sslmode=require".into());
    }
    e
}

fn source_text(err: &tokio_postgres::Error) -> String {
    std::error::Error::source(err)
        .map(|s| s.to_string())
        .unwrap_or_default()
}

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
use tokio_postgres::{CancelToken, Client, Config, Connection, NoTls, Socket};

use crate::error::{PgError, PgErrorKind};
use crate::password::{pgpass_password, pgpass_path, Target};
use crate::tls::{MakeRustls, SslMode, Tls, TlsError};
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
        _ => spawn_tls(&config, connector()?).await,
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
            spawn_tls(&secure, connector()?).await
        }
        _ => return Err(describe(err, mode, shown)),
    };
    second.map_err(|e| describe(e, mode, shown))
}

/// Connects with TLS and drives the connection on its own task.
async fn spawn_tls(config: &Config, tls: MakeRustls) -> Result<Client, tokio_postgres::Error> {
    spawn(config, tls.clone(), Some(tls)).await
}

/// Connects and drives the connection on its own task; `cancel_tls` is how a cancel request
/// reaches the server (in plain text without it, as libpq sends them).
async fn spawn<T>(
    config: &Config,
    tls: T,
    cancel_tls: Option<MakeRustls>,
) -> Result<Client, tokio_postgres::Error>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
{
    let (client, connection) = config.connect(tls).await?;
    drive(&client, connection, cancel_tls);
    Ok(client)
}

/// The sessions opened so far: the task driving each connection, and what cancels the
/// session's running query (finished ones are pruned as new ones open), for [`close_all`].
static DRIVERS: Mutex<Vec<Session>> = Mutex::new(Vec::new());

/// An open session, as [`close_all`] sees it.
struct Session {
    driver: JoinHandle<()>,
    cancel: CancelToken,
    cancel_tls: Option<MakeRustls>,
}

/// Drives a connection on its own task until it closes: once every handle of its client is
/// dropped and its last response has arrived, the driver sends the protocol's Terminate
/// message and closes the socket.
fn drive<S, T>(client: &Client, connection: Connection<S, T>, cancel_tls: Option<MakeRustls>)
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
    drivers.retain(|s| !s.driver.is_finished());
    drivers.push(Session {
        driver: task,
        cancel: client.cancel_token(),
        cancel_tls,
    });
}

/// How long idle sessions get to close before the ones still busy are cancelled.
const IDLE_GRACE: Duration = Duration::from_millis(100);

/// Ends every session cutover opened, waiting at most about `limit`. Call it when the command
/// is done (its clients dropped), before the runtime goes: a process that exits with sockets
/// open ends each session without a Terminate message, and the server logs "unexpected EOF on
/// client connection with an open transaction" or "connection to client lost" for every one,
/// on the source too, where a DBA watching the log during a cutover takes them for a failure.
///
/// Idle sessions close at once. A session still busy after a moment runs a query nobody will
/// read (the COPY of a run that failed or was interrupted): it is cancelled, as libpq cancels,
/// so that the server stops it with "canceling statement due to user request" rather than
/// streaming the rest of a table into a closed socket. Returns the sessions still open.
pub async fn close_all(limit: Duration) -> usize {
    let sessions = std::mem::take(&mut *DRIVERS.lock().unwrap_or_else(|e| e.into_inner()));
    let deadline = tokio::time::Instant::now() + limit;
    let grace = (tokio::time::Instant::now() + IDLE_GRACE).min(deadline);
    let mut busy = Vec::new();
    for mut s in sessions {
        if tokio::time::timeout_at(grace, &mut s.driver).await.is_err() {
            busy.push(s);
        }
    }
    let cancels = busy.iter().map(|s| async move {
        let sent = match &s.cancel_tls {
            Some(tls) => s.cancel.cancel_query(tls.clone()).await,
            None => s.cancel.cancel_query(NoTls).await,
        };
        if let Err(e) = sent {
            tracing::debug!(error = %e, "cannot cancel a busy session at exit");
        }
    });
    let _ = tokio::time::timeout_at(deadline, futures_util::future::join_all(cancels)).await;
    let mut open = 0;
    for s in busy {
        if tokio::time::timeout_at(deadline, s.driver).await.is_err() {
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
        return spawn(config, NoTls, None).await;
    }
    match connect_plain(config).await {
        Ok(Ok((client, connection))) => {
            drive(&client, connection, None);
            Ok(client)
        }
        Ok(Err(e)) => Err(e),
        Err(e) => {
            let mut config = config.clone();
            if e.kind() == std::io::ErrorKind::TimedOut {
                config.connect_timeout(ALREADY_TIMED_OUT);
            }
            spawn(&config, NoTls, None).await
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

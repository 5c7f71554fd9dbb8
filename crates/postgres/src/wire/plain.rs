//! Plain-text sessions over a socket opened here, so that they are read through [`ReadAhead`]
//! and [`MergeCopyData`] as TLS sessions are (tokio-postgres's own `connect` keeps its socket
//! to itself).
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_postgres::config::{Host, SslMode, TargetSessionAttrs};
use tokio_postgres::tls::NoTlsStream;
use tokio_postgres::{Client, Config, Connection, NoTls};

use super::{MergeCopyData, ReadAhead};

/// A TCP or Unix-domain socket.
pub enum PlainSocket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// The stream a plain session reads.
pub type PlainStream = MergeCopyData<ReadAhead<PlainSocket>>;

/// Whether [`connect_plain`] does what tokio-postgres's `connect` would: one host, any kind of
/// session (choosing among hosts by `target_session_attrs` or at random stays tokio-postgres's).
pub fn opens_itself(config: &Config) -> bool {
    config.get_hosts().len() == 1 && config.get_target_session_attrs() == TargetSessionAttrs::Any
}

/// Connects without TLS (whatever `config`'s `sslmode`) to a config's host (see
/// [`opens_itself`]). `Err` carries the socket's error when the host did not answer, for the
/// caller to let tokio-postgres connect (and word the failure) itself.
pub async fn connect_plain(
    config: &Config,
) -> io::Result<Result<(Client, Connection<PlainStream, NoTlsStream>), tokio_postgres::Error>> {
    let socket = open(config).await?;
    let mut config = config.clone();
    config.ssl_mode(SslMode::Disable);
    let stream = MergeCopyData::new(ReadAhead::new(socket));
    Ok(config.connect_raw(stream, NoTls).await)
}

async fn open(config: &Config) -> io::Result<PlainSocket> {
    let Some(host) = config.get_hosts().first() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "no host"));
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    match (config.get_hostaddrs().first(), host) {
        (Some(ip), _) => tcp(config, &[SocketAddr::new(*ip, port)]).await,
        (None, Host::Tcp(name)) => {
            let found = tokio::net::lookup_host((name.as_str(), port)).await?;
            tcp(config, &found.collect::<Vec<_>>()).await
        }
        (None, Host::Unix(dir)) => {
            let path = dir.join(format!(".s.PGSQL.{port}"));
            timed(config, UnixStream::connect(path))
                .await
                .map(PlainSocket::Unix)
        }
    }
}

async fn tcp(config: &Config, addrs: &[SocketAddr]) -> io::Result<PlainSocket> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the host name has no address");
    for addr in addrs {
        match timed(config, TcpStream::connect(addr)).await {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                let sock = SockRef::from(&stream);
                if let Some(t) = config.get_tcp_user_timeout() {
                    sock.set_tcp_user_timeout(Some(*t))?;
                }
                if config.get_keepalives() {
                    let mut k = TcpKeepalive::new().with_time(config.get_keepalives_idle());
                    if let Some(i) = config.get_keepalives_interval() {
                        k = k.with_interval(i);
                    }
                    if let Some(r) = config.get_keepalives_retries() {
                        k = k.with_retries(r);
                    }
                    sock.set_tcp_keepalive(&k)?;
                }
                return Ok(PlainSocket::Tcp(stream));
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

async fn timed<T>(
    config: &Config,
    connect: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match config.get_connect_timeout() {
        Some(t) => tokio::time::timeout(*t, connect)
            .await
            .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into())),
        None => connect.await,
    }
}

/// How long tokio-postgres is given to report a host that already timed out here.
pub const ALREADY_TIMED_OUT: Duration = Duration::from_millis(1);

impl AsyncRead for PlainSocket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PlainSocket::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            PlainSocket::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for PlainSocket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            PlainSocket::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            PlainSocket::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            PlainSocket::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            PlainSocket::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            PlainSocket::Tcp(s) => s.is_write_vectored(),
            PlainSocket::Unix(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PlainSocket::Tcp(s) => Pin::new(s).poll_flush(cx),
            PlainSocket::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PlainSocket::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            PlainSocket::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

//! tokio-postgres' TLS traits over tokio-rustls: the connector handed to `Config::connect`, the
//! handshake (its failures turned into messages that say what to fix), and the stream with its
//! `tls-server-end-point` channel binding, so SCRAM-SHA-256-PLUS ties the password exchange to
//! this TLS session.
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use ring::digest;
use rustls::{CertificateError, ClientConfig};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

use super::SslMode;
use crate::wire::{MergeCopyData, ReadAhead};

/// A TLS failure, worded for the user (never holds a password: the handshake precedes login).
#[derive(Clone, Debug)]
pub struct TlsError(pub String);

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

/// The connector: one rustls configuration, shared by every connection of a connection string.
#[derive(Clone, Debug)]
pub struct MakeRustls {
    config: Arc<ClientConfig>,
    mode: SslMode,
    /// The root certificates as shown in messages (a path, `system` or `(none)`).
    roots: String,
}

impl MakeRustls {
    pub(super) fn new(config: Arc<ClientConfig>, mode: SslMode, roots: String) -> MakeRustls {
        MakeRustls {
            config,
            mode,
            roots,
        }
    }
}

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = TlsError;

    fn make_tls_connect(&mut self, host: &str) -> Result<RustlsConnect, TlsError> {
        let name = match ServerName::try_from(host.to_string()) {
            Ok(n) => n,
            // Nothing is checked against the name: any will do (an IP address sends no SNI).
            Err(_) if !matches!(self.mode, SslMode::VerifyCa | SslMode::VerifyFull) => {
                ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into())
            }
            Err(e) => {
                return Err(TlsError(format!(
                    "TLS: host `{host}` cannot be checked against a certificate: {e}"
                )))
            }
        };
        Ok(RustlsConnect {
            connector: tokio_rustls::TlsConnector::from(self.config.clone()),
            name,
            host: host.to_string(),
            mode: self.mode,
            roots: self.roots.clone(),
        })
    }
}

/// One handshake.
pub struct RustlsConnect {
    connector: tokio_rustls::TlsConnector,
    name: ServerName<'static>,
    host: String,
    mode: SslMode,
    roots: String,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = TlsError;
    type Future = Pin<Box<dyn Future<Output = Result<RustlsStream<S>, TlsError>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            match self
                .connector
                .connect(self.name, ReadAhead::new(stream))
                .await
            {
                Ok(s) => Ok(RustlsStream(Box::new(MergeCopyData::new(s)))),
                Err(e) => Err(TlsError(describe(&e, &self.host, self.mode, &self.roots))),
            }
        })
    }
}

/// What went wrong in a handshake, and what to do about it.
fn describe(err: &io::Error, host: &str, mode: SslMode, roots: &str) -> String {
    let Some(tls) = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    else {
        return format!("TLS: handshake with `{host}` failed: {err}");
    };
    let mode = mode.as_str();
    match tls {
        rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            presented,
            ..
        }) => {
            let names: Vec<String> = presented.iter().map(|n| shown_name(n)).collect();
            let names = if names.is_empty() {
                "(no name)".to_string()
            } else {
                names.join(", ")
            };
            format!(
                "TLS: certificate for host {names} does not match `{host}` (sslmode={mode} checks \
                 the host name: connect by a name the certificate holds, or use sslmode=verify-ca)"
            )
        }
        rustls::Error::InvalidCertificate(CertificateError::NotValidForName) => format!(
            "TLS: the server certificate does not match `{host}` (sslmode={mode} checks the host \
             name: connect by a name the certificate holds, or use sslmode=verify-ca)"
        ),
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => format!(
            "TLS: the certificate of `{host}` is not signed by a CA in sslrootcert {roots} \
             (sslmode={mode}): give the CA that issued the server's certificate"
        ),
        rustls::Error::InvalidCertificate(c) => {
            format!("TLS: invalid certificate from `{host}` (sslmode={mode}): {c}")
        }
        rustls::Error::AlertReceived(alert) => format!(
            "TLS: `{host}` refused the handshake ({alert:?}); a server that wants a client \
             certificate needs sslcert and sslkey"
        ),
        other => format!("TLS: handshake with `{host}` failed: {other}"),
    }
}

/// `DnsName("db.example")` → `` `db.example` ``; `IpAddress(10.0.0.1)` → `` `10.0.0.1` ``.
fn shown_name(presented: &str) -> String {
    let inner = presented
        .strip_prefix("DnsName(\"")
        .and_then(|s| s.strip_suffix("\")"))
        .or_else(|| {
            presented
                .strip_prefix("IpAddress(")
                .and_then(|s| s.strip_suffix(')'))
        })
        .unwrap_or(presented);
    format!("`{inner}`")
}

/// An established TLS session: its socket read ahead ([`ReadAhead`]), its CopyData messages merged
/// ([`MergeCopyData`]).
pub struct RustlsStream<S>(Box<MergeCopyData<tokio_rustls::client::TlsStream<ReadAhead<S>>>>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        let (_, session) = self.0.get_ref().get_ref();
        session
            .peer_certificates()
            .and_then(|certs| certs.first())
            .and_then(|cert| server_end_point(cert))
            .map_or_else(ChannelBinding::none, ChannelBinding::tls_server_end_point)
    }
}

/// RFC 5929 `tls-server-end-point`: the server certificate hashed with its signature's hash
/// (SHA-256 for MD5 and SHA-1). `None` for algorithms without one defined here (RSA-PSS,
/// EdDSA): SCRAM then runs without channel binding, as with libpq's `channel_binding=prefer`.
pub(crate) fn server_end_point(cert: &[u8]) -> Option<Vec<u8>> {
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
    const ECDSA_SHA2: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03];
    const ECDSA_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01];
    let oid = signature_algorithm(cert)?;
    let algorithm = match oid.split_last()? {
        (4 | 5 | 11, prefix) if prefix == RSA => &digest::SHA256,
        (12, prefix) if prefix == RSA => &digest::SHA384,
        (13, prefix) if prefix == RSA => &digest::SHA512,
        (2, prefix) if prefix == ECDSA_SHA2 => &digest::SHA256,
        (3, prefix) if prefix == ECDSA_SHA2 => &digest::SHA384,
        (4, prefix) if prefix == ECDSA_SHA2 => &digest::SHA512,
        _ if oid == ECDSA_SHA1 => &digest::SHA256,
        _ => return None,
    };
    Some(digest::digest(algorithm, cert).as_ref().to_vec())
}

/// The OID of `Certificate.signatureAlgorithm` (DER: SEQUENCE { tbs, SEQUENCE { OID, … }, … }).
fn signature_algorithm(cert: &[u8]) -> Option<&[u8]> {
    let (0x30, body, _) = der(cert)? else {
        return None;
    };
    let (_, _tbs, rest) = der(body)?;
    let (0x30, alg, _) = der(rest)? else {
        return None;
    };
    let (0x06, oid, _) = der(alg)? else {
        return None;
    };
    Some(oid)
}

/// One DER item: tag, contents, what follows.
fn der(buf: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *buf.first()?;
    let first = *buf.get(1)? as usize;
    let (len, header) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let len = buf
            .get(2..2 + n)?
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | b as usize);
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    Some((tag, buf.get(header..end)?, &buf[end..]))
}

//! TLS for PostgreSQL connections with libpq's `sslmode` semantics, over rustls (ring).
//!
//! | `sslmode`     | TLS                         | server certificate checked                      |
//! |---------------|-----------------------------|-------------------------------------------------|
//! | `disable`     | never                       | —                                               |
//! | `allow`       | only if plain is refused    | no                                              |
//! | `prefer`      | if the server offers it; a failed handshake or a refused TLS session is retried in plain text (the default) | no |
//! | `require`     | always                      | no — unless a root certificate is there (`sslrootcert`, or `~/.postgresql/root.crt`): then as `verify-ca` |
//! | `verify-ca`   | always                      | chain to `sslrootcert`                          |
//! | `verify-full` | always                      | chain to `sslrootcert` and host name in the certificate |
//!
//! `sslrootcert=system` trusts the system's CA bundle (`SSL_CERT_FILE`, else the usual Debian
//! and Red Hat paths). `sslcert`/`sslkey` give a client certificate (default
//! `~/.postgresql/postgresql.crt`/`.key` when they exist); the key must not be readable by group
//! or others, as libpq demands. Parameters come from the connection string, else from
//! `PGSSLMODE`, `PGSSLROOTCERT`, `PGSSLCERT`, `PGSSLKEY`. Encrypted keys (`sslpassword`) are
//! not supported.
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::conn_params::TlsParams;

mod stream;
mod verify;

pub use stream::{MakeRustls, TlsError};

/// libpq's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(text: &str) -> Result<SslMode, String> {
        Ok(match text {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(format!(
                    "invalid sslmode `{other}`: use disable, allow, prefer, require, verify-ca \
                     or verify-full"
                ))
            }
        })
    }

    /// The name libpq uses.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Where trusted root certificates come from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Roots {
    None,
    File(PathBuf),
    System,
}

/// The TLS settings of one connection string, resolved; files are read by [`Tls::connector`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsOptions {
    /// The mode in force (`require` with a root certificate has become `verify-ca`).
    pub mode: SslMode,
    roots: Roots,
    /// Client certificate chain and key.
    client: Option<(PathBuf, PathBuf)>,
}

impl TlsOptions {
    /// Resolves the parameters taken out of a connection string, falling back on the `PGSSL*`
    /// environment variables and libpq's default files under `~/.postgresql/`.
    pub fn resolve(params: &TlsParams) -> Result<TlsOptions, String> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        Self::resolve_with(params, &|k| std::env::var(k).ok(), home.as_deref())
    }

    fn resolve_with(
        params: &TlsParams,
        env: &dyn Fn(&str) -> Option<String>,
        home: Option<&Path>,
    ) -> Result<TlsOptions, String> {
        let param = |key: &str, var: &str| params.get(key).cloned().or_else(|| env(var));
        let mode = SslMode::parse(param("sslmode", "PGSSLMODE").as_deref().unwrap_or("prefer"))?;
        if params.contains_key("sslpassword") {
            return Err(
                "sslpassword (an encrypted sslkey) is not supported: decrypt the key, \
                        e.g. `openssl pkey -in key.pem -out key.plain.pem`, and keep it 0600"
                    .into(),
            );
        }
        if mode == SslMode::Disable {
            return Ok(TlsOptions {
                mode,
                roots: Roots::None,
                client: None,
            });
        }
        let default = |name: &str| {
            home.map(|h| h.join(".postgresql").join(name))
                .filter(|p| p.exists())
        };
        let verifying = matches!(
            mode,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull
        );
        let roots = match param("sslrootcert", "PGSSLROOTCERT") {
            Some(s) if s == "system" => Roots::System,
            Some(s) if verifying && !Path::new(&s).exists() => {
                return Err(format!("sslrootcert file `{s}` not found"));
            }
            Some(s) => Roots::File(PathBuf::from(s)),
            None => default("root.crt").map_or(Roots::None, Roots::File),
        };
        let mode = match (mode, &roots) {
            (SslMode::Require, Roots::File(_)) => SslMode::VerifyCa,
            (SslMode::VerifyCa | SslMode::VerifyFull, Roots::None) => {
                return Err(format!(
                    "sslmode={} needs the CA's certificate: give sslrootcert=FILE (or \
                     sslrootcert=system for the system's CAs), put it at \
                     ~/.postgresql/root.crt, or use sslmode=require to encrypt without checking \
                     the server",
                    mode.as_str()
                ))
            }
            (m, _) => m,
        };
        let cert = param("sslcert", "PGSSLCERT");
        let key = param("sslkey", "PGSSLKEY");
        for (what, path) in [("sslcert", &cert), ("sslkey", &key)] {
            if let Some(p) = path.as_deref().filter(|p| !Path::new(p).exists()) {
                return Err(format!("{what} file `{p}` not found"));
            }
        }
        let cert = cert
            .map(PathBuf::from)
            .or_else(|| default("postgresql.crt"));
        let key = key.map(PathBuf::from).or_else(|| default("postgresql.key"));
        let client = match (cert, key) {
            (Some(c), Some(k)) => Some((c, k)),
            (Some(c), None) => {
                return Err(format!(
                    "sslcert `{}` has no key: give sslkey=FILE",
                    c.display()
                ))
            }
            (None, _) => None,
        };
        Ok(TlsOptions {
            mode,
            roots,
            client,
        })
    }

    /// The mode handed to tokio-postgres, which tries TLS first under `prefer` and insists on
    /// it under `require`; the checks of `verify-*` are the verifier's.
    pub fn driver_mode(&self) -> tokio_postgres::config::SslMode {
        use tokio_postgres::config::SslMode as D;
        match self.mode {
            SslMode::Disable | SslMode::Allow => D::Disable,
            SslMode::Prefer => D::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => D::Require,
        }
    }

    /// Reads the certificate files and builds the rustls configuration.
    fn build(&self) -> Result<MakeRustls, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots_shown = match &self.roots {
            Roots::None => "(none)".to_string(),
            Roots::File(p) => format!("`{}`", p.display()),
            Roots::System => "system".to_string(),
        };
        let verifier: Arc<dyn rustls::client::danger::ServerCertVerifier> = match self.mode {
            SslMode::VerifyCa | SslMode::VerifyFull => {
                let roots = Arc::new(self.root_store()?);
                let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                    .build()
                    .map_err(|e| format!("sslrootcert {roots_shown}: {e}"))?;
                if self.mode == SslMode::VerifyFull {
                    webpki
                } else {
                    Arc::new(verify::ChainOnly::new(webpki))
                }
            }
            _ => Arc::new(verify::Unverified::new(&provider)),
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match &self.client {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = read_certs("sslcert", cert)?;
                let key = read_key(key)?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("sslcert `{}`: {e}", cert.display()))?
            }
        };
        // What libpq 17 sends; required by servers taking direct TLS connections.
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(MakeRustls::new(Arc::new(config), self.mode, roots_shown))
    }

    fn root_store(&self) -> Result<RootCertStore, String> {
        let (what, path) = match &self.roots {
            Roots::File(p) => ("sslrootcert", p.clone()),
            Roots::System => ("sslrootcert=system", system_bundle()?),
            Roots::None => unreachable!("verifying modes have roots"),
        };
        let mut store = RootCertStore::empty();
        for cert in read_certs(what, &path)? {
            store
                .add(cert)
                .map_err(|e| format!("{what} `{}`: {e}", path.display()))?;
        }
        Ok(store)
    }
}

/// The system's CA bundle, as OpenSSL finds it.
fn system_bundle() -> Result<PathBuf, String> {
    let candidates = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .into_iter()
        .chain(
            [
                "/etc/ssl/certs/ca-certificates.crt",
                "/etc/pki/tls/certs/ca-bundle.crt",
                "/etc/ssl/cert.pem",
            ]
            .map(PathBuf::from),
        );
    for p in candidates {
        if p.is_file() {
            return Ok(p);
        }
    }
    Err("sslrootcert=system: no system CA bundle found (set SSL_CERT_FILE)".into())
}

fn read_certs(what: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let shown = path.display();
    if !path.exists() {
        return Err(format!("{what} file `{shown}` not found"));
    }
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{what} file `{shown}`: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{what} file `{shown}` holds no PEM certificate"));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let shown = path.display();
    if !path.exists() {
        return Err(format!("sslkey file `{shown}` not found"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let meta = std::fs::metadata(path).map_err(|e| format!("sslkey file `{shown}`: {e}"))?;
        let mode = meta.permissions().mode() & 0o777;
        // libpq: 0600 or less, or 0640 or less when root owns it.
        let allowed = if meta.uid() == 0 { 0o640 } else { 0o600 };
        if mode & !allowed != 0 {
            return Err(format!(
                "sslkey file `{shown}` has group or world access (mode {mode:o}); permissions \
                 should be u=rw (0600) or less"
            ));
        }
    }
    PrivateKeyDer::from_pem_file(path).map_err(|e| {
        format!("sslkey file `{shown}`: {e} (an unencrypted PEM private key is needed)")
    })
}

/// The TLS side of a connection string: options, and the rustls configuration built from them
/// on first use (the files are read once per connection string, not per connection).
#[derive(Debug)]
pub struct Tls {
    pub options: TlsOptions,
    connector: OnceLock<Result<MakeRustls, String>>,
}

impl Tls {
    pub fn new(options: TlsOptions) -> Tls {
        Tls {
            options,
            connector: OnceLock::new(),
        }
    }

    /// The connector for tokio-postgres; `Err` says which file or setting is wrong.
    pub fn connector(&self) -> Result<MakeRustls, String> {
        self.connector.get_or_init(|| self.options.build()).clone()
    }
}

#[cfg(test)]
mod tests;

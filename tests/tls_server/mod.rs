//! A throwaway PostgreSQL server with TLS for the TLS and password tests: its own cluster
//! (`initdb` as the `postgres` OS user when the tests run as root) in a temporary directory, a
//! CA and a server certificate made here with rcgen, `ssl = on`, listening on 127.0.0.1 on a
//! free port, with the pg_hba.conf the test gives. The shared test server is never touched.
//! Stopped and removed on drop (also when the test panics).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

/// A certificate authority made for one test.
pub struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("CA certificate");
        Ca { cert, key }
    }

    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A certificate for `names` (subject alternative names; the first is the common name),
    /// with its key, both PEM.
    pub fn issue(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> (String, String) {
        let key = KeyPair::generate().expect("key");
        let sans: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(sans).expect("params");
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.extended_key_usages = vec![usage];
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("certificate");
        (cert.pem(), key.serialize_pem())
    }
}

/// The running server.
pub struct TlsServer {
    pub port: u16,
    /// The CA that issued the server certificate (`ca.crt` in the directory).
    pub ca: Ca,
    pub ca_file: PathBuf,
    dir: tempfile::TempDir,
    bin: PathBuf,
    as_postgres: bool,
}

impl TlsServer {
    /// Starts a server whose certificate holds `server_names`, with `hba` as pg_hba.conf (a
    /// `local all all trust` line is put first, for the test's own psql). `None`, with the
    /// reason printed, when this machine cannot run one (no PostgreSQL binaries, or root
    /// without a `postgres` user).
    pub fn start(server_names: &[&str], hba: &str) -> Option<TlsServer> {
        let Some(bin) = bindir() else {
            eprintln!("skipped: no PostgreSQL server binaries (initdb) on this machine");
            return None;
        };
        let as_postgres = is_root();
        if as_postgres
            && !run(Command::new("id").args(["-u", "postgres"]))
                .status
                .success()
        {
            eprintln!("skipped: running as root and there is no `postgres` OS user for initdb");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("cutover-tls-")
            .tempdir()
            .expect("temp dir");
        let ca = Ca::new("cutover test CA");
        let (cert, key) = ca.issue(server_names, ExtendedKeyUsagePurpose::ServerAuth);
        let p = dir.path();
        write(&p.join("ca.crt"), &ca.pem(), 0o644);
        write(&p.join("server.crt"), &cert, 0o644);
        write(&p.join("server.key"), &key, 0o600);
        if as_postgres {
            assert!(run(Command::new("chown").arg("-R").arg("postgres:").arg(p))
                .status
                .success());
        }
        let port = free_port();
        let mut server = TlsServer {
            port,
            ca_file: p.join("ca.crt"),
            ca,
            dir,
            bin,
            as_postgres,
        };
        server.init(hba);
        Some(server)
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn data(&self) -> PathBuf {
        self.dir().join("data")
    }

    /// Runs a server binary, as `postgres` when the tests run as root.
    fn pg(&self, tool: &str, args: &[&str]) -> Output {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        cmd.args(args).current_dir(self.dir());
        run(&mut cmd)
    }

    fn init(&mut self, hba: &str) {
        let data = self.data();
        let data_s = data.to_str().unwrap();
        let out = self.pg(
            "initdb",
            &["-D", data_s, "-U", "postgres", "-A", "trust", "--no-sync"],
        );
        assert!(out.status.success(), "initdb: {}", text(&out));
        let d = self.dir().display().to_string();
        let conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{d}'\n\
             ssl = on\nssl_cert_file = '{d}/server.crt'\nssl_key_file = '{d}/server.key'\n\
             ssl_ca_file = '{d}/ca.crt'\npassword_encryption = 'scram-sha-256'\nfsync = off\n\
             shared_buffers = 16MB\nmax_connections = 40\n",
            self.port
        );
        append(&data.join("postgresql.conf"), &conf);
        std::fs::write(
            data.join("pg_hba.conf"),
            format!("local all all trust\n{hba}\n"),
        )
        .unwrap();
        let log = self.dir().join("server.log");
        let out = self.pg(
            "pg_ctl",
            &[
                "-D",
                data_s,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(out.status.success(), "pg_ctl start: {}\n{log}", text(&out));
    }

    /// Runs SQL as `postgres` over the Unix socket; panics on error.
    pub fn sql(&self, db: &str, sql: &str) -> String {
        let out = run(Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-U", "postgres"])
            .arg("-h")
            .arg(self.dir())
            .args(["-p", &self.port.to_string(), "-d", db, "-c", sql]));
        assert!(out.status.success(), "psql `{sql}`: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).trim_end().to_string()
    }

    /// `postgres://user[:password]@host:port/db?params`.
    pub fn url(&self, user: &str, host: &str, db: &str, params: &str) -> String {
        let q = if params.is_empty() { "" } else { "?" };
        format!("postgres://{user}@{host}:{}/{db}{q}{params}", self.port)
    }

    /// A file in the server's directory, written by the test (mode as given).
    pub fn file(&self, name: &str, contents: &str, mode: u32) -> PathBuf {
        let path = self.dir().join(name);
        write(&path, contents, mode);
        path
    }

    /// An empty directory for HOME, so nothing of the machine's `~/.postgresql` or `.pgpass`
    /// is read.
    pub fn home(&self) -> PathBuf {
        let home = self.dir().join("home");
        std::fs::create_dir_all(&home).unwrap();
        home
    }

    /// Runs the `cutover` binary with a clean libpq environment (HOME in the server directory,
    /// no PG* variables) plus `env`.
    pub fn cutover(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cutover"));
        cmd.args(args).env("HOME", self.home());
        for (k, _) in std::env::vars() {
            if k.starts_with("PG") || k.starts_with("CUTOVER_") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(env.iter().copied());
        run(&mut cmd)
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self.pg(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn write(path: &Path, contents: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, contents).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn append(path: &Path, contents: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(contents.as_bytes()).unwrap();
}

fn is_root() -> bool {
    let out = run(Command::new("id").arg("-u"));
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// The directory of `initdb`: `PG_BINDIR`, the newest /usr/lib/postgresql/N/bin, or PATH.
fn bindir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("PG_BINDIR") {
        return Some(PathBuf::from(d));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|d| d.join("initdb").exists() && d.join("pg_ctl").exists())
    })
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

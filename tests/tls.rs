//! TLS against a throwaway PostgreSQL with `ssl = on`, a CA made in the test, and a pg_hba.conf
//! that rejects every connection without TLS (`hostnossl … reject`), so a passing run proves
//! the session was encrypted. Each sslmode behaves as in libpq: verify-full checks the chain and
//! the host name, verify-ca the chain only, require and prefer encrypt without checking, disable
//! is refused by this server. Skipped, with the reason printed, where no server can be started.
mod tls_server;

use std::process::Output;

use rcgen::ExtendedKeyUsagePurpose;
use tls_server::{Ca, TlsServer};

const HBA: &str = "\
hostnossl all all 127.0.0.1/32 reject
hostssl all certuser 127.0.0.1/32 cert
hostssl all all 127.0.0.1/32 trust";

/// A server whose certificate is for `names`, with a source and a target database holding one
/// small table each (identity mapping).
fn server(names: &[&str]) -> Option<TlsServer> {
    let s = TlsServer::start(names, HBA)?;
    for db in ["src", "tgt"] {
        s.sql("postgres", &format!("CREATE DATABASE {db}"));
        s.sql(
            db,
            "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL)",
        );
    }
    s.sql(
        "src",
        "INSERT INTO items VALUES (1, 'one'), (2, 'two'), (3, 'three')",
    );
    s.sql("postgres", "CREATE ROLE certuser LOGIN SUPERUSER");
    Some(s)
}

/// `cutover plan` with both sides on the server as `user`, host `host`, URL parameters `params`.
fn plan(s: &TlsServer, user: &str, host: &str, params: &str) -> Output {
    let src = s.url(user, host, "src", params);
    let tgt = s.url(user, host, "tgt", params);
    s.cutover(&["plan", "--source", &src, "--target", &tgt], &[])
}

fn shown(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_fails_with(out: &Output, message: &str) {
    assert_eq!(out.status.code(), Some(2), "{}", shown(out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(message),
        "no `{message}` in\n{}",
        shown(out)
    );
}

#[test]
fn verify_full_with_the_right_host_name_runs_plan_end_to_end() {
    let Some(s) = server(&["localhost"]) else {
        return;
    };
    let ca = s.ca_file.display().to_string();
    let out = plan(
        &s,
        "postgres",
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("public.items") && stdout.contains("0 BLOCKER"),
        "{}",
        shown(&out)
    );
    // The same with sslmode and sslrootcert from the environment, as libpq reads them.
    let (src, tgt) = (
        s.url("postgres", "localhost", "src", ""),
        s.url("postgres", "localhost", "tgt", ""),
    );
    let out = s.cutover(
        &["plan", "--source", &src, "--target", &tgt],
        &[("PGSSLMODE", "verify-full"), ("PGSSLROOTCERT", &ca)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
}

#[test]
fn verify_full_with_a_wrong_host_name_fails_and_verify_ca_passes() {
    let Some(s) = server(&["otherhost"]) else {
        return;
    };
    let ca = s.ca_file.display().to_string();
    let out = plan(
        &s,
        "postgres",
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    assert_fails_with(
        &out,
        "TLS: certificate for host `otherhost` does not match `localhost`",
    );
    // verify-ca checks the chain only.
    let out = plan(
        &s,
        "postgres",
        "localhost",
        &format!("sslmode=verify-ca&sslrootcert={ca}"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    // …and so does require once a root certificate is given (libpq's rule).
    let out = plan(
        &s,
        "postgres",
        "localhost",
        &format!("sslmode=require&sslrootcert={ca}"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
}

#[test]
fn a_certificate_from_another_ca_or_a_missing_root_file_fails_clearly() {
    let Some(s) = server(&["localhost"]) else {
        return;
    };
    let other = s.file("other-ca.crt", &Ca::new("someone else's CA").pem(), 0o644);
    for mode in ["verify-ca", "verify-full", "require"] {
        let out = plan(
            &s,
            "postgres",
            "localhost",
            &format!("sslmode={mode}&sslrootcert={}", other.display()),
        );
        assert_fails_with(&out, "is not signed by a CA in sslrootcert");
    }
    let out = plan(
        &s,
        "postgres",
        "localhost",
        "sslmode=verify-full&sslrootcert=/no/such/ca.crt",
    );
    assert_fails_with(&out, "sslrootcert file `/no/such/ca.crt` not found");
    let out = plan(&s, "postgres", "localhost", "sslmode=verify-full");
    assert_fails_with(&out, "sslmode=verify-full needs the CA's certificate");
}

#[test]
fn require_and_prefer_encrypt_without_a_root_certificate_and_disable_is_refused() {
    let Some(s) = server(&["localhost"]) else {
        return;
    };
    for params in ["sslmode=require", "sslmode=prefer", ""] {
        let out = plan(&s, "postgres", "127.0.0.1", params);
        assert_eq!(out.status.code(), Some(0), "{params}: {}", shown(&out));
    }
    let out = plan(&s, "postgres", "127.0.0.1", "sslmode=disable");
    assert_fails_with(&out, "pg_hba.conf rejects connection");
    assert_fails_with(&out, "no encryption");
}

#[test]
fn client_certificates_are_sent_when_given() {
    let Some(s) = server(&["localhost"]) else {
        return;
    };
    let (cert, key) =
        s.ca.issue(&["certuser"], ExtendedKeyUsagePurpose::ClientAuth);
    let cert = s.file("client.crt", &cert, 0o644);
    let key_path = s.file("client.key", &key, 0o600);
    let ca = s.ca_file.display().to_string();
    let with_cert = format!(
        "sslmode=verify-full&sslrootcert={ca}&sslcert={}&sslkey={}",
        cert.display(),
        key_path.display()
    );
    let out = plan(&s, "certuser", "localhost", &with_cert);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let out = plan(
        &s,
        "certuser",
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    assert_fails_with(&out, "certificate");
    // A key others can read is refused before connecting, as libpq does.
    let loose = s.file("loose.key", &key, 0o644);
    let out = plan(
        &s,
        "certuser",
        "localhost",
        &format!(
            "sslmode=require&sslcert={}&sslkey={}",
            cert.display(),
            loose.display()
        ),
    );
    assert_fails_with(&out, "has group or world access");
}

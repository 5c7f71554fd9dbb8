//! Passwords reach the server from each source libpq knows — the URL, `--password-file`,
//! `PGPASSWORD`, `.pgpass` (`PGPASSFILE`) — in libpq's order of precedence, against a throwaway
//! server whose pg_hba.conf asks for `scram-sha-256` over TLS, so a wrong or missing password
//! really fails (exit 2, a clear message, the password never shown). Skipped, with the reason
//! printed, where no server can be started.
mod tls_server;

use std::process::Output;

use tls_server::TlsServer;

const USER: &str = "app";
const PASSWORD: &str = "c0rrect-h0rse";
const WRONG: &str = "wr0ng-batt3ry";

const HBA: &str = "\
hostnossl all all 127.0.0.1/32 reject
hostssl all postgres 127.0.0.1/32 trust
hostssl all all 127.0.0.1/32 scram-sha-256";

fn server() -> Option<TlsServer> {
    let s = TlsServer::start(&["localhost"], HBA)?;
    s.sql(
        "postgres",
        &format!("CREATE ROLE {USER} LOGIN SUPERUSER PASSWORD '{PASSWORD}'"),
    );
    for db in ["src", "tgt"] {
        s.sql("postgres", &format!("CREATE DATABASE {db} OWNER {USER}"));
        s.sql(db, "CREATE TABLE items (id int PRIMARY KEY, name text)");
    }
    s.sql("src", "INSERT INTO items VALUES (1, 'one')");
    Some(s)
}

/// `cutover plan` as `app` on both sides; `userinfo` is `app` or `app:password`.
fn plan(s: &TlsServer, userinfo: &str, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let src = s.url(userinfo, "localhost", "src", "sslmode=require");
    let tgt = s.url(userinfo, "localhost", "tgt", "sslmode=require");
    let mut args = vec!["plan", "--source", &src, "--target", &tgt];
    args.extend_from_slice(extra);
    s.cutover(&args, env)
}

fn shown(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_ok(out: &Output, case: &str) {
    assert_eq!(out.status.code(), Some(0), "{case}: {}", shown(out));
}

fn assert_rejected(out: &Output, case: &str, message: &str) {
    assert_eq!(out.status.code(), Some(2), "{case}: {}", shown(out));
    let all = shown(out);
    assert!(all.contains(message), "{case}: no `{message}` in\n{all}");
    for pw in [PASSWORD, WRONG] {
        assert!(!all.contains(pw), "{case}: a password is shown\n{all}");
    }
}

#[test]
fn each_password_source_reaches_the_server_in_libpq_order() {
    let Some(s) = server() else {
        return;
    };
    let right_file = s.file("right.pw", &format!("{PASSWORD}\n"), 0o600);
    let wrong_file = s.file("wrong.pw", &format!("{WRONG}\n"), 0o600);
    let (right_file, wrong_file) = (right_file.to_str().unwrap(), wrong_file.to_str().unwrap());
    let port = s.port;
    // The first matching line wins: another port first, then this server.
    let right_pgpass = s.file(
        "right.pgpass",
        &format!("localhost:1:*:{USER}:{WRONG}\nlocalhost:{port}:*:{USER}:{PASSWORD}\n"),
        0o600,
    );
    let wrong_pgpass = s.file("wrong.pgpass", &format!("*:*:*:*:{WRONG}\n"), 0o600);
    let (right_pgpass, wrong_pgpass) = (
        right_pgpass.to_str().unwrap(),
        wrong_pgpass.to_str().unwrap(),
    );
    let with_pw = format!("{USER}:{PASSWORD}");
    let pf = "--password-file";

    // Each source alone.
    assert_ok(&plan(&s, &with_pw, &[], &[]), "URL");
    assert_ok(&plan(&s, USER, &[pf, right_file], &[]), "--password-file");
    assert_ok(
        &plan(&s, USER, &[], &[("PGPASSWORD", PASSWORD)]),
        "PGPASSWORD",
    );
    assert_ok(
        &plan(&s, USER, &[], &[("PGPASSFILE", right_pgpass)]),
        ".pgpass",
    );
    // Precedence: URL > --password-file > PGPASSWORD > .pgpass.
    let env = [("PGPASSWORD", WRONG), ("PGPASSFILE", wrong_pgpass)];
    assert_ok(&plan(&s, &with_pw, &[pf, wrong_file], &env), "URL first");
    assert_ok(&plan(&s, USER, &[pf, right_file], &env), "file before env");
    let env = [("PGPASSWORD", PASSWORD), ("PGPASSFILE", wrong_pgpass)];
    assert_ok(&plan(&s, USER, &[], &env), "env before .pgpass");
    // SCRAM-SHA-256-PLUS: the exchange is bound to this TLS session.
    let src = s.url(
        &with_pw,
        "localhost",
        "src",
        "sslmode=require&channel_binding=require",
    );
    let tgt = s.url(&with_pw, "localhost", "tgt", "sslmode=require");
    let out = s.cutover(&["plan", "--source", &src, "--target", &tgt], &[]);
    assert_ok(&out, "channel binding");
}

#[test]
fn wrong_or_missing_passwords_fail_clearly() {
    let Some(s) = server() else {
        return;
    };
    let failed = format!("password authentication failed for user \"{USER}\"");
    let with_wrong = format!("{USER}:{WRONG}");
    assert_rejected(&plan(&s, &with_wrong, &[], &[]), "wrong in URL", &failed);
    let wrong_file = s.file("wrong.pw", &format!("{WRONG}\n"), 0o600);
    assert_rejected(
        &plan(
            &s,
            USER,
            &["--password-file", wrong_file.to_str().unwrap()],
            &[],
        ),
        "wrong file",
        &failed,
    );
    assert_rejected(
        &plan(&s, USER, &[], &[("PGPASSWORD", WRONG)]),
        "wrong PGPASSWORD",
        &failed,
    );
    // None at all: the server asks, and the message says where a password can come from.
    assert_rejected(
        &plan(&s, USER, &[], &[]),
        "none",
        "--password-file, PGPASSWORD or ~/.pgpass",
    );
    // A .pgpass others can read is ignored, with a warning, as libpq does.
    let loose = s.file("loose.pgpass", &format!("*:*:*:*:{PASSWORD}\n"), 0o644);
    let out = plan(&s, USER, &[], &[("PGPASSFILE", loose.to_str().unwrap())]);
    assert_rejected(&out, "loose .pgpass", "group or world access");
    // An unreadable --password-file is a configuration error before any connection.
    let out = plan(&s, USER, &["--password-file", "/no/such/file"], &[]);
    assert_rejected(
        &out,
        "missing file",
        "cannot read --password-file `/no/such/file`",
    );
}

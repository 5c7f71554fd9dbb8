use std::collections::HashMap;

use super::*;

fn params(pairs: &[(&str, &str)]) -> TlsParams {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn resolve(
    pairs: &[(&str, &str)],
    env: &[(&str, &str)],
    home: Option<&Path>,
) -> Result<TlsOptions, String> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    TlsOptions::resolve_with(&params(pairs), &|k| env.get(k).cloned(), home)
}

#[test]
fn prefer_is_the_default_and_checks_nothing() {
    let o = resolve(&[], &[], None).unwrap();
    assert_eq!(
        (o.mode, &o.roots, &o.client),
        (SslMode::Prefer, &Roots::None, &None)
    );
    assert_eq!(o.driver_mode(), tokio_postgres::config::SslMode::Prefer);
}

#[test]
fn the_connection_string_wins_over_the_environment() {
    let o = resolve(&[], &[("PGSSLMODE", "disable")], None).unwrap();
    assert_eq!(o.mode, SslMode::Disable);
    let o = resolve(&[("sslmode", "require")], &[("PGSSLMODE", "disable")], None).unwrap();
    assert_eq!(o.mode, SslMode::Require);
    assert_eq!(o.driver_mode(), tokio_postgres::config::SslMode::Require);
}

#[test]
fn require_with_a_root_certificate_becomes_verify_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "x").unwrap();
    let ca_s = ca.to_str().unwrap();
    let o = resolve(&[("sslmode", "require"), ("sslrootcert", ca_s)], &[], None).unwrap();
    assert_eq!(o.mode, SslMode::VerifyCa);
    let o = resolve(&[("sslmode", "require")], &[("PGSSLROOTCERT", ca_s)], None).unwrap();
    assert_eq!(o.mode, SslMode::VerifyCa);
    // libpq's default file under ~/.postgresql counts too.
    std::fs::create_dir(dir.path().join(".postgresql")).unwrap();
    std::fs::write(dir.path().join(".postgresql/root.crt"), "x").unwrap();
    let o = resolve(&[("sslmode", "require")], &[], Some(dir.path())).unwrap();
    assert_eq!(o.mode, SslMode::VerifyCa);
    let o = resolve(&[("sslmode", "require")], &[], None).unwrap();
    assert_eq!(o.mode, SslMode::Require);
}

#[test]
fn verify_modes_need_a_root_certificate_that_exists() {
    let err = resolve(&[("sslmode", "verify-full")], &[], None).unwrap_err();
    assert!(err.contains("sslrootcert"), "{err}");
    let err = resolve(
        &[("sslmode", "verify-ca"), ("sslrootcert", "/no/such/ca.pem")],
        &[],
        None,
    )
    .unwrap_err();
    assert_eq!(err, "sslrootcert file `/no/such/ca.pem` not found");
    let o = resolve(
        &[("sslmode", "verify-full"), ("sslrootcert", "system")],
        &[],
        None,
    )
    .unwrap();
    assert_eq!((o.mode, o.roots), (SslMode::VerifyFull, Roots::System));
}

#[test]
fn client_certificates_need_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("c.pem");
    std::fs::write(&cert, "x").unwrap();
    let c = cert.to_str().unwrap();
    let err = resolve(&[("sslcert", c)], &[], None).unwrap_err();
    assert!(err.contains("has no key"), "{err}");
    let err = resolve(&[("sslcert", c), ("sslkey", "/no/key.pem")], &[], None).unwrap_err();
    assert_eq!(err, "sslkey file `/no/key.pem` not found");
    let o = resolve(&[("sslcert", c), ("sslkey", c)], &[], None).unwrap();
    assert_eq!(o.client, Some((cert.clone(), cert)));
}

#[test]
fn unknown_modes_and_encrypted_keys_are_refused() {
    let err = resolve(&[("sslmode", "verify_full")], &[], None).unwrap_err();
    assert!(err.contains("invalid sslmode `verify_full`"), "{err}");
    let err = resolve(&[("sslpassword", "pw")], &[], None).unwrap_err();
    assert!(
        err.contains("not supported") && !err.contains("pw "),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn a_key_readable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pem");
    std::fs::write(&key, "x").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = read_key(&key).unwrap_err();
    assert!(err.contains("group or world access"), "{err}");
}

#[test]
fn broken_root_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "not a certificate").unwrap();
    let o = resolve(
        &[
            ("sslmode", "verify-full"),
            ("sslrootcert", ca.to_str().unwrap()),
        ],
        &[],
        None,
    )
    .unwrap();
    let err = Tls::new(o).connector().unwrap_err();
    assert!(err.contains("holds no PEM certificate"), "{err}");
}

#[test]
fn channel_binding_hashes_the_certificate_with_its_signature_hash() {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["db".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let der = cert.der().to_vec();
    let want = ring::digest::digest(&ring::digest::SHA384, &der);
    assert_eq!(stream::server_end_point(&der).unwrap(), want.as_ref());
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["db".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    assert_eq!(stream::server_end_point(cert.der()), None);
    assert_eq!(stream::server_end_point(b"\x30\x05junk"), None);
}

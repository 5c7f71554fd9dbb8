//! `pii = true` columns: masked in reject reasons and keys, pseudonymised on request.
use std::sync::Arc;

use super::fixtures::*;
use super::*;
use crate::catalog::TableInfo;
use crate::pgtype::PgType;
use crate::transform::pseudonym::PseudonymKey;
use crate::value::Value;

const PII: &str = r#"[[tables]]
source = "contacts"
target = "contacts"

[tables.columns.id]
uuid = { table = "contacts", from = "id" }

[tables.columns.email]
from = "email_addr"
trim = true
lower = true
email = true
pii = true

[tables.columns.phone]
from = "phone"
pii = true

[tables.columns.full_name]
concat = ["first_name", "last_name"]
separator = " "
"#;

fn key(material: &str) -> Arc<PseudonymKey> {
    Arc::new(PseudonymKey::derive(material.as_bytes()).unwrap())
}

fn batch(p: &TableProgram) -> arrow_array::RecordBatch {
    input(
        p,
        &[
            ("id", vec![int(1), int(2), int(3)]),
            (
                "email_addr",
                vec![text(" Ada@Example.COM "), text("ada lovelace"), None],
            ),
            (
                "phone",
                vec![text("+14155550132"), text("555"), text("+14155550132")],
            ),
            ("first_name", vec![text("Ada"), text("Ada"), text("Grace")]),
            (
                "last_name",
                vec![text("Lovelace"), text("L"), text("Hopper")],
            ),
        ],
    )
}

#[test]
fn reject_reasons_of_pii_columns_hold_no_value() {
    let p = program(&mapping(PII), &source_contacts(), &target_contacts());
    assert!(p.is_pii(1) && p.is_pii(2) && !p.is_pii(0));
    let t = p.run(&batch(&p));
    assert_eq!(t.rejects.len(), 1, "{:?}", t.rejects);
    let r = &t.rejects[0];
    assert_eq!((r.column.as_str(), r.key.as_str()), ("email", r#"["2"]"#));
    assert!(
        !r.reason.contains("ada") && r.reason.contains("***"),
        "{}",
        r.reason
    );
    // Masking changes reports only: without --pseudonymise the values load as they are.
    assert_eq!(output(&p, &t, "email"), vec![text("ada@example.com"), None]);
    assert_eq!(output(&p, &t, "phone")[0], text("+14155550132"));
}

#[test]
fn keys_feeding_a_pii_column_are_masked_in_rejects() {
    let body = PII.replace(
        "uuid = { table = \"contacts\", from = \"id\" }",
        "uuid = { table = \"contacts\", from = \"id\" }\npii = true",
    );
    let p = program(&mapping(&body), &source_contacts(), &target_contacts());
    let t = p.run(&batch(&p));
    assert_eq!(t.rejects[0].key, r#"["***"]"#);
}

#[test]
fn pseudonymised_columns_are_deterministic_per_key_and_others_untouched() {
    let m = mapping(PII);
    let run = |k: &Arc<PseudonymKey>| {
        let mut p = program(&m, &source_contacts(), &target_contacts());
        assert!(p.pseudonymise(k).is_empty());
        assert!(!p.is_identity());
        let t = p.run(&batch(&p));
        let cols = ["id", "email", "phone", "full_name"].map(|c| output(&p, &t, c));
        (cols, t.rejects.len())
    };
    let (a, rejected) = run(&key("a key of sixteen bytes or more"));
    let (b, _) = run(&key("a key of sixteen bytes or more"));
    let (c, _) = run(&key("another key, also long enough"));
    assert_eq!(a, b);
    // The invalid e-mail is still rejected: pseudonyms come after the checks.
    assert_eq!(rejected, 1);
    let [id, email, phone, full_name] = &a;
    let Some(Value::Text(e)) = &email[0] else {
        panic!("{email:?}")
    };
    assert!(
        e.starts_with("u_") && e.ends_with("@example.invalid"),
        "{e}"
    );
    assert_eq!(email[1], None, "NULL stays NULL");
    assert_ne!(phone[0], text("+14155550132"));
    assert_eq!(
        phone[0], phone[1],
        "the same value gives the same pseudonym"
    );
    assert_ne!(email, &c[1]);
    assert_ne!(phone, &c[2]);
    // Not pii: as without pseudonymisation.
    assert_eq!(full_name, &vec![text("Ada Lovelace"), text("Grace Hopper")]);
    assert_eq!(id, &c[0]);
}

#[test]
fn pii_columns_of_types_without_a_pseudonym_are_blockers() {
    let source = TableInfo {
        columns: vec![not_null(col("id", PgType::Int4)), col("ip", PgType::Inet)],
        ..table("legacy", "hosts", vec![], &["id"])
    };
    let target = TableInfo {
        name: "hosts".into(),
        ..source.clone()
    };
    let m = mapping(
        "[[tables]]\nsource = \"hosts\"\n\n[tables.columns.id]\nfrom = \"id\"\n\n\
         [tables.columns.ip]\nfrom = \"ip\"\npii = true\n",
    );
    let mut p = program(&m, &source, &target);
    let findings = p.pseudonymise(&key("a key of sixteen bytes or more"));
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].severity, Severity::Blocker);
    assert!(
        findings[0].message.contains("pii column `ip`"),
        "{findings:?}"
    );
}

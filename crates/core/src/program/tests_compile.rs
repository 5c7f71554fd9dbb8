use super::fixtures::*;
use super::*;
use crate::mapping::identity;
use crate::pgtype::PgType;

/// A mapping using every kind of column of docs/mapping.md.
pub const FULL: &str = r#"[[tables]]
source = "contacts"
cursor = "modified_on"
filter = "deleted_at IS NULL"

[tables.columns.currency]
const = "USD"

[tables.columns.id]
uuid = { table = "contacts", from = "id" }

[tables.columns.email]
from = "email_addr"
trim = true
lower = true
email = true
on_error = "null"

[tables.columns.phone]
from = "phone"
phone = true

[tables.columns.status]
from = "status_cd"
map = { A = "active", I = "inactive" }
default = "unknown"

[tables.columns.amount]
from = "amount"
scale = 2

[tables.columns.created_at]
from = "created_on"
timezone = "America/New_York"

[tables.columns.full_name]
concat = ["first_name", "last_name"]
separator = " "

[tables.columns.owner_id]
uuid = { table = "users", from = "owner_user_id" }
on_error = "null"
"#;

#[test]
fn full_mapping_compiles_in_catalog_order() {
    let m = mapping(FULL);
    let (p, findings) = compile(&m, &source_contacts(), &target_contacts());
    assert_eq!(findings, []);
    let p = p.unwrap();
    assert_eq!(
        p.source_columns,
        [
            "id",
            "email_addr",
            "phone",
            "status_cd",
            "amount",
            "created_on",
            "first_name",
            "last_name",
            "owner_user_id"
        ]
    );
    assert_eq!(p.source_key, [0]);
    let targets: Vec<&str> = p.target_columns.iter().map(|c| c.name.as_str()).collect();
    // Target attribute order, whatever the file's order; the generated column is left out.
    assert_eq!(
        targets,
        [
            "id",
            "email",
            "phone",
            "status",
            "amount",
            "created_at",
            "full_name",
            "owner_id",
            "currency"
        ]
    );
    assert_eq!(p.key, [0]);
    use crate::mapping::OnError::{Null, Reject};
    assert_eq!(
        p.on_error,
        [Reject, Null, Reject, Reject, Reject, Reject, Reject, Null, Reject]
    );
    assert_eq!(p.cursor.as_deref(), Some("modified_on"));
    assert_eq!(p.filter.as_deref(), Some("deleted_at IS NULL"));
    assert!(!p.is_identity());
    let fields: Vec<&str> = p
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(fields, targets);
}

/// Findings for a table body whose line 7 is the first line of `snippet` (`id` is mapped after
/// it, so the target key is always written).
fn findings_for(snippet: &str) -> Vec<Finding> {
    let body = format!(
        "[[tables]]\nsource = \"contacts\"\n{snippet}\n[tables.columns.id]\nuuid = {{ table = \"contacts\", from = \"id\" }}\n"
    );
    compile(&mapping(&body), &source_contacts(), &target_contacts()).1
}

#[test]
fn findings_say_where_and_why() {
    use Severity::Blocker;
    let cases: &[(&str, Severity, &str, &str)] = &[
        (
            "[tables.columns.email]\nfrom = \"emial_addr\"",
            Blocker,
            "mapping.toml:8:8",
            "unknown column `emial_addr` in source table `contacts` (did you mean `email_addr`?)",
        ),
        (
            "[tables.columns.emial]\nfrom = \"email_addr\"",
            Blocker,
            "mapping.toml:7:17",
            "unknown column `emial` in target table `contacts` (did you mean `email`?)",
        ),
        (
            "[tables.columns.amount]\nfrom = \"blob\"",
            Blocker,
            "mapping.toml:7:17",
            "source column `blob` (bytea) cannot be cast to the type of target column `amount` (numeric(10,2))",
        ),
        (
            "[tables.columns.created_at]\nfrom = \"created_on\"",
            Blocker,
            "mapping.toml:7:17",
            "source column `created_on` (timestamp without time zone) cannot be cast",
        ),
        (
            "[tables.columns.phone]\nfrom = \"age\"\ntrim = true",
            Blocker,
            "mapping.toml:7:17",
            "`trim` needs text, but source column `age` (integer) is not",
        ),
        (
            "[tables.columns.amount]\nfrom = \"email_addr\"\nscale = 2",
            Blocker,
            "mapping.toml:7:17",
            "`scale` needs a number, but source column `email_addr` (text) is not",
        ),
        (
            "[tables.columns.created_at]\nfrom = \"modified_on\"\ntimezone = \"UTC\"",
            Blocker,
            "mapping.toml:7:17",
            "`timezone` needs a timestamp without time zone",
        ),
        (
            "[tables.columns.email]\nfrom = \"age\"\nemail = true",
            Blocker,
            "mapping.toml:7:17",
            "`email` needs text",
        ),
        (
            "[tables.columns.email]\nfrom = \"email_addr\"\nmap = { a = \"x\", b = 1 }",
            Blocker,
            "mapping.toml:7:17",
            "`map` values (and `default`) must all be of one kind",
        ),
        (
            "[tables.columns.owner_id]\nfrom = \"age\"\nmap = { 1 = true }",
            Blocker,
            "mapping.toml:7:17",
            "the value after `map` (boolean) cannot be cast to the type of target column `owner_id` (uuid)",
        ),
        (
            "[tables.columns.amount]\nuuid = { table = \"x\", from = \"id\" }",
            Blocker,
            "mapping.toml:7:17",
            "the `uuid` (uuid) cannot be cast",
        ),
        (
            "[tables.columns.full_name]\nconcat = [\"first_name\", \"lastname\"]",
            Blocker,
            "mapping.toml:8:10",
            "unknown column `lastname` in source table `contacts` (did you mean `last_name`?)",
        ),
        (
            "[tables.columns.owner_id]\nuuid = { table = \"users\", from = [\"owner_user_id\", \"blob2\"] }",
            Blocker,
            "mapping.toml:8:34",
            "unknown column `blob2` in source table `contacts` (did you mean `blob`?)",
        ),
        (
            "cursor = \"modifed_on\"",
            Blocker,
            "mapping.toml:7:10",
            "cursor `modifed_on` is not a column of source table `contacts` (did you mean `modified_on`?)",
        ),
        (
            "key = [\"uid\"]",
            Blocker,
            "mapping.toml:7:7",
            "key column `uid` is not a column of target table `contacts` (did you mean `id`?)",
        ),
        ("key = [\"email\"]", Blocker, "mapping.toml:7:7", "key column `email` is not written by the mapping"),
        (
            "[tables.columns.search]\nfrom = \"email_addr\"",
            Blocker,
            "mapping.toml:7:17",
            "target column `search` is generated and cannot be written",
        ),
        (
            "[tables.columns.currency]\nconst = \"USDX\"",
            Blocker,
            "mapping.toml:7:17",
            "the constant \"USDX\" cannot be stored in `currency` (character(3))",
        ),
        (
            "[tables.columns.amount]\nfrom = \"amount\"\non_error = \"default\"\ndefault = \"abc\"",
            Blocker,
            "mapping.toml:7:17",
            "default \"abc\" cannot be stored in `amount` (numeric(10,2))",
        ),
        (
            "[tables.columns.amount]\nfrom = \"amount\"\non_error = \"default\"\ndefault = true",
            Blocker,
            "mapping.toml:7:17",
            "default true cannot be stored in `amount` (numeric(10,2)): a boolean cannot be cast to it",
        ),
        (
            "[tables.columns.phone]\nfrom = \"phone\"\nphone = true\nregion = \"ZZ\"",
            Blocker,
            "mapping.toml:7:17",
            "region `ZZ` is not known to the phone number metadata",
        ),
    ];
    for (snippet, severity, location, message) in cases {
        let findings = findings_for(snippet);
        let found = findings.iter().any(|f| {
            f.severity == *severity
                && f.location.as_deref() == Some(*location)
                && f.message.contains(message)
                && f.table.as_deref() == Some("contacts")
        });
        assert!(
            found,
            "\n{snippet}\nwant {severity:?} {location}: {message}\ngot {findings:#?}"
        );
    }
}

#[test]
fn compatible_sources_compile_without_findings() {
    for snippet in [
        // Casts checked at run time, value by value.
        "[tables.columns.amount]\nfrom = \"email_addr\"",
        "[tables.columns.email]\nfrom = \"age\"",
        "[tables.columns.phone]\nfrom = \"age\"\nphone = true",
        "[tables.columns.status]\nfrom = \"age\"\nmap = { 1 = \"one\" }",
        "[tables.columns.amount]\nfrom = \"age\"\nscale = 2",
        "[tables.columns.full_name]\nconcat = [\"first_name\", \"age\", \"created_on\"]",
        "[tables.columns.owner_id]\nfrom = \"email_addr\"\ntrim = true",
        "[tables.columns.created_at]\nfrom = \"modified_on\"",
    ] {
        assert_eq!(findings_for(snippet), [], "{snippet}");
    }
}

#[test]
fn not_null_target_column_left_unmapped_is_a_blocker() {
    let mut target = target_contacts();
    target.columns.push(not_null(col("name", PgType::Text)));
    let m = mapping(
        "[[tables]]\nsource = \"contacts\"\n\n[tables.columns.id]\nfrom = \"email_addr\"\n",
    );
    let (p, findings) = compile(&m, &source_contacts(), &target);
    assert!(p.is_none());
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0].severity, Severity::Blocker);
    assert_eq!(findings[0].column.as_deref(), Some("name"));
    assert_eq!(findings[0].location.as_deref(), Some("mapping.toml:5:1"));
    assert!(
        findings[0]
            .message
            .contains("`name` is NOT NULL without a default"),
        "{}",
        findings[0]
    );
}

#[test]
fn table_without_any_key_is_a_blocker() {
    let mut target = target_contacts();
    target.primary_key.clear();
    let m = mapping(
        "[[tables]]\nsource = \"contacts\"\n\n[tables.columns.id]\nfrom = \"email_addr\"\n",
    );
    let (p, findings) = compile(&m, &source_contacts(), &target);
    assert!(p.is_none());
    assert_eq!(
        findings.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
        ["BLOCKER mapping.toml:5:1: target table `contacts` has no key: set `key` in the mapping or add a primary key"]
    );
    // A mapping key is enough.
    let m = mapping("[[tables]]\nsource = \"contacts\"\nkey = [\"id\"]\n\n[tables.columns.id]\nfrom = \"email_addr\"\n");
    let (p, findings) = compile(&m, &source_contacts(), &target);
    assert_eq!(findings, []);
    assert_eq!(p.unwrap().key, [0]);
}

#[test]
fn warnings_do_not_block() {
    let text = "version = 1\n[[tables]]\nsource = \"contacts\"\n[tables.columns.id]\nfrom = \"email_addr\"\n[tables.columns.phone]\nfrom = \"phone\"\nphone = true\n";
    let m = crate::mapping::parse("m.toml", text).unwrap();
    let mut source = source_contacts();
    source.primary_key.clear();
    let (p, findings) =
        TableProgram::compile(&m, &m.tables[0], "m.toml", &source, &target_contacts());
    assert!(p.is_some());
    let got: Vec<String> = findings.iter().map(|f| f.to_string()).collect();
    assert_eq!(
        got,
        [
            "WARNING m.toml:6:17: `phone` of `phone` has no region: only numbers written with +CC will load; set `default_region` or `region`",
            "WARNING m.toml:2:1: source table `contacts` has no primary key: rejected rows cannot be named by key",
        ]
    );
    assert!(p.unwrap().source_key.is_empty());
}

#[test]
fn copy_unmapped_fills_same_named_columns_and_skips_the_rest() {
    let source = table(
        "public",
        "t",
        vec![
            not_null(col("id", PgType::Int4)),
            col("name", PgType::Text),
            col("n", PgType::Int4),
            col("old", PgType::Text),
        ],
        &["id"],
    );
    let target = table(
        "public",
        "t",
        vec![
            not_null(col("id", PgType::Int4)),
            col("name", varchar(10)),
            col("n", PgType::Int8),
            with_default(not_null(col("created", tstz()))),
            col("label", PgType::Text),
        ],
        &["id"],
    );
    let m = mapping("[[tables]]\nsource = \"t\"\ncopy_unmapped = true\n\n[tables.columns.label]\nfrom = \"old\"\nupper = true\n");
    let p = program(&m, &source, &target);
    let names: Vec<&str> = p.target_columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["id", "name", "n", "label"]);
    assert_eq!(p.source_columns, ["id", "name", "n", "old"]);
    assert!(!p.is_identity());
    let kinds: Vec<bool> = p.outputs.iter().map(|o| o.is_pass()).collect();
    assert_eq!(
        kinds,
        [true, false, false, false],
        "same type passes through; casts and transforms do not"
    );

    // Without copy_unmapped only the listed column is written (and `id`, the key, is missing).
    let m = mapping("[[tables]]\nsource = \"t\"\n\n[tables.columns.label]\nfrom = \"old\"\n");
    let (p, findings) = compile(&m, &source, &target);
    assert!(p.is_none());
    let got: Vec<&str> = findings.iter().map(|f| f.message.as_str()).collect();
    assert!(
        got.iter()
            .any(|m| m.contains("`id` is NOT NULL without a default")),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|m| m.contains("key column `id` is not written")),
        "{got:?}"
    );

    // Incompatible same-named columns are a blocker.
    let mut bad = target.clone();
    bad.columns[2] = col("n", PgType::Bytea);
    let m = mapping("[[tables]]\nsource = \"t\"\ncopy_unmapped = true\n");
    let (_, findings) = compile(&m, &source, &bad);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert!(findings[0].message.starts_with(
        "copy_unmapped: source column `n` (integer) cannot be cast to target column `n` (bytea)"
    ));
}

#[test]
fn identity_mapping_passes_every_column_through() {
    let source = source_contacts();
    let mut target = source.clone();
    target.schema = "crm".into();
    let m = identity(std::slice::from_ref(&source), "legacy", "crm");
    let (p, findings) = TableProgram::compile(&m, &m.tables[0], "(identity)", &source, &target);
    assert_eq!(findings, []);
    let p = p.unwrap();
    assert!(p.is_identity());
    let names: Vec<&str> = source.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(p.source_columns, names);
    assert_eq!(p.target_columns, target.columns);
    assert_eq!((p.key.clone(), p.source_key.clone()), (vec![0], vec![0]));
    let pass = p
        .passthrough()
        .expect("an identity passes every column through");
    assert_eq!(
        pass.iter().map(|c| c.input).collect::<Vec<_>>(),
        (0..names.len()).collect::<Vec<_>>()
    );
    for (c, t) in pass.iter().zip(&target.columns) {
        let expected = if t.not_null {
            PassNull::Reject
        } else {
            PassNull::Keep
        };
        assert_eq!(c.null, expected, "column {}", t.name);
    }

    // A type change makes it a cast, no longer an identity; findings carry no location.
    target.columns[11] = col("age", PgType::Int8);
    target.primary_key = vec!["nope".into()];
    let (p, findings) = TableProgram::compile(&m, &m.tables[0], "(identity)", &source, &target);
    assert!(p.is_none());
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].location, None);
    target.primary_key = vec!["id".into()];
    let (p, _) = TableProgram::compile(&m, &m.tables[0], "(identity)", &source, &target);
    let p = p.unwrap();
    assert!(!p.is_identity());
    assert_eq!(p.passthrough(), None);
}

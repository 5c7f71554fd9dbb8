use std::path::Path;

use super::*;
use crate::catalog::{ColumnInfo, TableInfo};

/// The ```toml example of docs/mapping.md: the format's reference must parse.
fn doc_example() -> String {
    let doc = include_str!("../../../../docs/mapping.md");
    let start = doc
        .find("```toml\n")
        .expect("docs/mapping.md has a toml example")
        + 8;
    let len = doc[start..].find("```").expect("closing fence");
    doc[start..start + len].to_string()
}

fn err(text: &str) -> String {
    parse("mapping.toml", text).unwrap_err().to_string()
}

const HEAD: &str = "version = 1\n\n[[tables]]\nsource = \"contacts\"\n\n";

#[test]
fn docs_example_parses_with_every_key() {
    let m = parse("mapping.md", &doc_example()).unwrap();
    assert_eq!(m.version, 1);
    assert_eq!(
        (m.source_schema.as_str(), m.target_schema.as_str()),
        ("legacy", "crm")
    );
    assert_eq!(
        m.uuid_namespace.unwrap().to_string(),
        "6f0d5b4e-8a53-4c1e-9d2b-3c4a5e6f7a8b"
    );
    assert_eq!(m.default_region.as_deref(), Some("US"));
    let t = &m.tables[0];
    assert_eq!(
        (t.source.as_str(), t.target_name()),
        ("accounts", "accounts")
    );
    assert_eq!(t.key_columns(), Some(&["id".to_string()][..]));
    assert_eq!(t.cursor_column(), Some("modified_on"));
    assert_eq!(t.filter.as_deref(), Some("deleted_at IS NULL"));
    assert!(!t.copy_unmapped);
    let names: Vec<&str> = t.columns.iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "id",
            "name",
            "status",
            "owner_id",
            "email",
            "phone",
            "amount",
            "created_at",
            "currency",
            "full_name"
        ]
    );
    let c = |n: &str| t.columns.get(n).unwrap();
    let id = c("id").uuid.as_ref().unwrap();
    assert_eq!(
        (id.table.as_str(), id.from.get_ref().as_slice()),
        ("accounts", &["id".to_string()][..])
    );
    assert_eq!(c("name").from.as_ref().unwrap().get_ref(), "acct_name");
    assert!(c("name").trim);
    let status = c("status");
    assert_eq!(
        status.map.as_ref().unwrap()["3"],
        Literal::Text("suspended".into())
    );
    assert_eq!(status.default, Some(Literal::Text("unknown".into())));
    assert_eq!(status.on_error, OnError::Reject);
    assert_eq!(c("owner_id").on_error, OnError::Null);
    assert!(c("email").trim && c("email").lower && c("email").email);
    assert!(c("phone").phone);
    assert_eq!(c("phone").region.as_deref(), Some("GB"));
    assert_eq!(c("amount").scale, Some(2));
    assert_eq!(c("created_at").timezone, Some(chrono_tz::America::New_York));
    assert_eq!(c("currency").constant, Some(Literal::Text("USD".into())));
    let full = c("full_name");
    assert_eq!(
        full.concat.as_ref().unwrap().get_ref(),
        &["first_name", "last_name"]
    );
    assert_eq!(full.separator.as_deref(), Some(" "));
}

#[test]
fn every_file_in_mappings_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../mappings");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    entries.sort();
    for path in entries {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy();
        if let Err(e) = parse(&name, &text) {
            panic!("{e}");
        }
    }
}

#[test]
fn errors_point_at_file_line_col() {
    let cases: &[(&str, &str)] = &[
        (
            "[tables.columns.email]\nfrom = \"email_addr\"\nemial = true\n",
            "mapping.toml:8:1: unknown field `emial`, expected one of",
        ),
        (
            "[tables.columns.email]\nfrom = \"email_addr\"\ntrim = \"yes\"\n",
            "mapping.toml:8:8: invalid type: string \"yes\", expected a boolean",
        ),
        (
            "[tables.columns.email]\nfrom = \"e\"\non_error = \"skip\"\n",
            "mapping.toml:8:12: unknown variant `skip`, expected one of `reject`, `null`, `default`",
        ),
        (
            "[tables.columns.n]\nfrom = \"n\"\nscale = 1001\n",
            "mapping.toml:8:9: scale 1001 is out of range",
        ),
        (
            "[tables.columns.t]\nfrom = \"t\"\ntimezone = \"America/New_Yrok\"\n",
            "mapping.toml:8:12: unknown time zone `America/New_Yrok`",
        ),
        (
            "[tables.columns.p]\nfrom = \"p\"\nphone = true\nregion = \"us\"\n",
            "mapping.toml:9:10: region `us` must be two upper-case letters",
        ),
        (
            "[tables.columns.name]\nfrom = \"a\"\nconst = \"b\"\n",
            "mapping.toml:6:17: column `name` of table `contacts`: `from` and `const` both say",
        ),
        (
            "[tables.columns.name]\ntrim = true\n",
            "mapping.toml:6:17: column `name` of table `contacts`: give exactly one of",
        ),
        (
            "[tables.columns.name]\nfrom = \"a\"\non_error = \"default\"\n",
            "mapping.toml:6:17: column `name` of table `contacts`: on_error = \"default\" needs",
        ),
        (
            "[tables.columns.name]\nfrom = \"a\"\nlower = true\nupper = true\n",
            "mapping.toml:6:17: column `name` of table `contacts`: `lower` and `upper` cannot",
        ),
        (
            "[tables.columns.id]\nuuid = { table = \"contacts\", from = \"id\" }\n",
            "mapping.toml:6:17: column `id` of table `contacts`: `uuid` needs `uuid_namespace`",
        ),
        (
            "[tables.columns.id]\nuuid = { table = \"contacts\", from = 7 }\n",
            "mapping.toml:7:37: invalid type: integer `7`, expected a column name or an array",
        ),
        (
            "[tables.columns.c]\nconst = 2024-01-01\n",
            "mapping.toml:7:9: expected a string, integer, float or boolean (write dates",
        ),
    ];
    for (columns, want) in cases {
        let got = err(&format!("{HEAD}{columns}"));
        assert!(got.starts_with(want), "\n got: {got}\nwant: {want}");
    }
}

#[test]
fn top_level_errors_point_at_file_line_col() {
    let cases: &[(&str, &str)] = &[
        (
            "version = 2\n",
            "mapping.toml:1:11: unsupported mapping version 2",
        ),
        (
            "version = 1\ntarget_schem = \"x\"\n",
            "mapping.toml:2:1: unknown field `target_schem`",
        ),
        (
            "version = 1\ndefault_region = \"USA\"\n",
            "mapping.toml:2:18: region `USA` must be",
        ),
        (
            "version = 1\nuuid_namespace = \"nope\"\n",
            "mapping.toml:2:18: uuid_namespace `nope`",
        ),
        (
            "version = 1\n[[tables]]\nsource = \"a\"\nkey = []\n",
            "mapping.toml:4:7: table `a`: `key`",
        ),
        (
            "version = 1\n[[tables]]\ntarget = \"a\"\n",
            "mapping.toml:2:1: missing field `source`",
        ),
        (
            "source_schema = \"x\"\n",
            "mapping.toml:1:1: missing field `version`",
        ),
    ];
    for (text, want) in cases {
        let got = err(text);
        assert!(got.starts_with(want), "\n got: {got}\nwant: {want}");
    }
}

#[test]
fn spans_locate_tables_and_columns() {
    let text = format!(
        "{HEAD}[tables.columns.zeta]\nfrom = \"z\"\n\n[tables.columns.alpha]\nfrom = \"a\"\n"
    );
    let m = parse("m.toml", &text).unwrap();
    let t = &m.tables[0];
    assert_eq!(
        m.locate("m.toml", &t.span).unwrap().to_string(),
        "m.toml:3:1"
    );
    let names: Vec<&str> = t.columns.iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["zeta", "alpha"], "declaration order is kept");
    let alpha = t.columns.get("alpha").unwrap();
    assert_eq!(
        m.locate("m.toml", &alpha.span).unwrap().to_string(),
        "m.toml:9:17"
    );
    let from = alpha.from.as_ref().unwrap();
    assert_eq!(
        m.locate("m.toml", &from.span()).unwrap().to_string(),
        "m.toml:10:8"
    );
}

#[test]
fn location_counts_characters_not_bytes() {
    let text = "a = \"é\"\nbé = 1";
    assert_eq!(Location::at("f", text, text.len() - 3).to_string(), "f:2:4");
    assert_eq!(Location::at("f", text, 0).to_string(), "f:1:1");
    assert_eq!(Location::at("f", text, 10_000).to_string(), "f:2:7");
}

#[test]
fn literals_keep_their_kind() {
    let text = format!(
        "{HEAD}[tables.columns.c]\nfrom = \"c\"\nmap = {{ \"1\" = 10, \"2\" = 2.5, \"3\" = true, \"4\" = \"x\" }}\n"
    );
    let m = parse("m.toml", &text).unwrap();
    let map = m.tables[0].columns.get("c").unwrap().map.clone().unwrap();
    let got: Vec<Literal> = map.into_values().collect();
    assert_eq!(
        got,
        [
            Literal::Int(10),
            Literal::Float(2.5),
            Literal::Bool(true),
            Literal::Text("x".into())
        ]
    );
}

#[test]
fn identity_maps_every_table_with_copy_unmapped() {
    let table = |name: &str| TableInfo {
        schema: "public".into(),
        name: name.into(),
        columns: vec![ColumnInfo {
            name: "id".into(),
            ty: crate::pgtype::PgType::Int4,
            type_sql: "integer".into(),
            not_null: true,
            has_default: false,
            generated: false,
            oid_shape: Default::default(),
        }],
        primary_key: vec!["id".into()],
        estimated_rows: 0,
        pages: 0,
        tablespace: None,
        unlogged: false,
    };
    let m = identity(&[table("a"), table("b")], "public", "crm");
    assert_eq!(m.version, 1);
    assert_eq!(m.target_schema, "crm");
    let names: Vec<(&str, &str)> = m
        .tables
        .iter()
        .map(|t| (t.source.as_str(), t.target_name()))
        .collect();
    assert_eq!(names, [("a", "a"), ("b", "b")]);
    assert!(m
        .tables
        .iter()
        .all(|t| t.copy_unmapped && t.columns.is_empty() && t.key.is_none()));
    assert_eq!(m.locate("x", &m.tables[0].span), None);
}

#[test]
fn mapping_hash_is_blake3_hex() {
    assert_eq!(
        mapping_hash(""),
        "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
    );
    assert_ne!(
        mapping_hash("version = 1\n"),
        mapping_hash("version = 1 \n")
    );
}

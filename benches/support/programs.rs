//! Mapping programs over the `contacts` table of `contacts.sql`: identity, every transform kind
//! `mappings/crm.toml` uses (one per program, beside the key), and all of them together the way
//! the CRM mapping combines them for its `contacts` table.
use cutover_core::catalog::{ColumnInfo, TableInfo};
use cutover_core::mapping::parse;
use cutover_core::pgtype::PgType;
use cutover_core::program::TableProgram;

use super::contacts;

/// The head of every bench mapping: the namespace and region of `mappings/crm.toml`.
const HEAD: &str = r#"version = 1
uuid_namespace = "6f0d5b4e-8a53-4c1e-9d2b-3c4a5e6f7a8b"
default_region = "US"
"#;

/// The transforms of `mappings/crm.toml`'s `contacts` table, on the columns of `contacts.sql`
/// (its timestamps are already `timestamptz`, so `timezone` has its own program, [`single`]).
const CRM_CONTACTS: &str = r#"
[[tables]]
source = "contacts"
target = "contacts_new"
key = ["id"]
cursor = "updated_at"

[tables.columns.id]
uuid = { table = "contacts", from = "id" }

[tables.columns.legacy_id]
from = "id"

[tables.columns.account_id]
uuid = { table = "accounts", from = "account_id" }
on_error = "null"

[tables.columns.first_name]
from = "first_name"
trim = true

[tables.columns.last_name]
from = "last_name"
trim = true

[tables.columns.full_name]
concat = ["first_name", "last_name"]
separator = " "

[tables.columns.email]
from = "email"
trim = true
lower = true
email = true
on_error = "null"

[tables.columns.phone]
from = "phone"
trim = true
phone = true
on_error = "null"

[tables.columns.status]
from = "status"
map = { "0" = "lead", "1" = "active", "2" = "inactive", "3" = "suspended" }
default = "unknown"

[tables.columns.score]
from = "score"
scale = 1

[tables.columns.notes]
from = "notes"

[tables.columns.created_at]
from = "created_at"

[tables.columns.updated_at]
from = "updated_at"
"#;

fn col(name: &str, ty: PgType, type_sql: &str) -> ColumnInfo {
    ColumnInfo {
        name: name.into(),
        ty,
        type_sql: type_sql.into(),
        not_null: false,
        has_default: false,
        generated: false,
        oid_shape: Default::default(),
    }
}

fn table(name: &str, columns: Vec<ColumnInfo>) -> TableInfo {
    TableInfo {
        schema: "public".into(),
        name: name.into(),
        columns,
        primary_key: vec!["id".into()],
        estimated_rows: -1,
        pages: 0,
        tablespace: None,
        unlogged: false,
    }
}

fn compile(toml: &str, source: &TableInfo, target: &TableInfo) -> TableProgram {
    let text = format!("{HEAD}{toml}");
    let mapping = parse("bench.toml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    match TableProgram::compile(&mapping, &mapping.tables[0], "bench.toml", source, target) {
        (Some(p), _) => p,
        (None, findings) => panic!("bench mapping has blockers: {findings:#?}"),
    }
}

/// Every column passed through untouched (`migrate full` without `--mapping`).
pub fn identity() -> TableProgram {
    let source = contacts::table();
    let mut target = source.clone();
    target.name = "contacts_new".into();
    compile(
        "[[tables]]\nsource = \"contacts\"\ntarget = \"contacts_new\"\ncopy_unmapped = true\n",
        &source,
        &target,
    )
}

/// The CRM mapping's `contacts` transforms, all together ([`CRM_CONTACTS`]).
pub fn crm_contacts() -> TableProgram {
    let uuid = || PgType::Uuid;
    let target = table(
        "contacts_new",
        vec![
            col("id", uuid(), "uuid"),
            col("legacy_id", PgType::Int8, "bigint"),
            col("account_id", uuid(), "uuid"),
            col("first_name", PgType::Text, "text"),
            col("last_name", PgType::Text, "text"),
            col("full_name", PgType::Text, "text"),
            col("email", PgType::Text, "text"),
            col("phone", PgType::Text, "text"),
            col("status", PgType::Text, "text"),
            col(
                "score",
                PgType::Numeric {
                    precision: Some(12),
                    scale: Some(1),
                },
                "numeric(12,1)",
            ),
            col("notes", PgType::Text, "text"),
            col(
                "created_at",
                PgType::Timestamptz { precision: None },
                "timestamp with time zone",
            ),
            col(
                "updated_at",
                PgType::Timestamptz { precision: None },
                "timestamp with time zone",
            ),
        ],
    );
    compile(CRM_CONTACTS, &contacts::table(), &target)
}

/// One transform kind: the key passed through plus target column `out` (of type `ty`)
/// computed by `spec` (the body of its `[tables.columns.out]` section).
///
/// `timezone` reads a `timestamp without time zone`: for it the source's `created_at` is
/// declared `timestamp` (the same 8 binary bytes as `timestamptz`).
pub fn single(ty: PgType, type_sql: &str, spec: &str) -> TableProgram {
    let mut source = contacts::table();
    if spec.contains("timezone") {
        let c = source
            .columns
            .iter_mut()
            .find(|c| c.name == "created_at")
            .unwrap();
        c.ty = PgType::Timestamp { precision: None };
        c.type_sql = "timestamp without time zone".into();
    }
    let target = table(
        "contacts_new",
        vec![col("id", PgType::Int8, "bigint"), col("out", ty, type_sql)],
    );
    let toml = format!(
        "[[tables]]\nsource = \"contacts\"\ntarget = \"contacts_new\"\nkey = [\"id\"]\n\n\
         [tables.columns.id]\nfrom = \"id\"\n\n[tables.columns.out]\n{spec}\n"
    );
    compile(&toml, &source, &target)
}

/// The transform kinds of `mappings/crm.toml`, each as a [`single`] program: (name, program).
pub fn each_transform() -> Vec<(&'static str, TableProgram)> {
    let text = || (PgType::Text, "text");
    let numeric1 = PgType::Numeric {
        precision: Some(12),
        scale: Some(1),
    };
    let tstz = PgType::Timestamptz { precision: None };
    let cases: Vec<(&str, (PgType, &str), &str)> = vec![
        ("uuid", (PgType::Uuid, "uuid"), "uuid = { table = \"contacts\", from = \"id\" }"),
        ("trim", text(), "from = \"first_name\"\ntrim = true"),
        ("concat", text(), "concat = [\"first_name\", \"last_name\"]\nseparator = \" \""),
        (
            "email",
            text(),
            "from = \"email\"\ntrim = true\nlower = true\nemail = true\non_error = \"null\"",
        ),
        ("phone", text(), "from = \"phone\"\ntrim = true\nphone = true\non_error = \"null\""),
        (
            "map",
            text(),
            "from = \"status\"\nmap = { \"0\" = \"lead\", \"1\" = \"active\" }\ndefault = \"unknown\"",
        ),
        ("scale", (numeric1, "numeric(12,1)"), "from = \"score\"\nscale = 1"),
        (
            "timezone",
            (tstz, "timestamp with time zone"),
            "from = \"created_at\"\ntimezone = \"America/New_York\"",
        ),
        ("const", text(), "const = \"legacy-crm\""),
    ];
    cases
        .into_iter()
        .map(|(name, (ty, sql), spec)| (name, single(ty, sql, spec)))
        .collect()
}

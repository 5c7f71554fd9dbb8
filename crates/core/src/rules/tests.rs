use std::cmp::Ordering;

use super::*;
use crate::catalog::ColumnInfo;
use crate::mapping::parse;
use crate::value::Value;

const HEAD: &str = "version = 1\n\n[[tables]]\nsource = \"t\"\n\n";

fn checks(rules: &str) -> Result<Checks, String> {
    let text = format!("{HEAD}[tables.columns.c]\nfrom = \"c\"\nchecks = {{ {rules} }}\n");
    parse("m.toml", &text)
        .map(|m| {
            m.tables[0]
                .columns
                .get("c")
                .unwrap()
                .checks
                .clone()
                .unwrap()
        })
        .map_err(|e| e.to_string())
}

fn table(columns: &[(&str, PgType)]) -> TableInfo {
    TableInfo {
        schema: "public".into(),
        name: "t".into(),
        columns: columns
            .iter()
            .map(|(n, ty)| ColumnInfo {
                name: n.to_string(),
                ty: ty.clone(),
                type_sql: crate::value::sql_name(ty),
                not_null: false,
                has_default: false,
                generated: false,
                oid_shape: Default::default(),
            })
            .collect(),
        primary_key: vec![],
        estimated_rows: 0,
        pages: 0,
        tablespace: None,
        unlogged: false,
    }
}

/// The rules of column `c` of type `ty`, compiled.
fn compiled(rules: &str, ty: PgType) -> (Vec<ColumnRule>, Vec<Finding>) {
    let text = format!("{HEAD}[tables.columns.c]\nfrom = \"c\"\nchecks = {{ {rules} }}\n");
    let m = parse("m.toml", &text).unwrap();
    compile(&m, &m.tables[0], "m.toml", &table(&[("c", ty)]))
}

fn rule(rules: &str, ty: PgType) -> ColumnRule {
    let (mut r, f) = compiled(rules, ty);
    assert!(f.is_empty(), "{f:?}");
    assert_eq!(r.len(), 1);
    r.remove(0)
}

#[test]
fn short_and_table_forms_read_alike() {
    let c = checks(
        "e164 = \"BLOCKER\", email = { severity = \"WARNING\", tolerance = 0.01 }, \
         regex = \"^[A-Z]{3}$\", range = [0, 100], max_scale = 2, not_empty = \"WARNING\", \
         one_of = { values = [\"a\", 2, true], severity = \"WARNING\", tolerance = 5 }, \
         url = { tolerance = 3 }",
    )
    .unwrap();
    let level = |s, t| Level {
        severity: s,
        tolerance: t,
    };
    assert_eq!(
        *c.e164.unwrap().get_ref(),
        level(Severity::Blocker, Tolerance::Count(0))
    );
    assert_eq!(
        *c.email.unwrap().get_ref(),
        level(Severity::Warning, Tolerance::Ratio(0.01))
    );
    assert_eq!(
        *c.url.unwrap().get_ref(),
        level(Severity::Blocker, Tolerance::Count(3))
    );
    assert_eq!(c.regex.unwrap().get_ref().pattern, "^[A-Z]{3}$");
    let range = c.range.unwrap().into_inner();
    assert_eq!(
        (range.min, range.max),
        (Some(Literal::Int(0)), Some(Literal::Int(100)))
    );
    assert_eq!(c.max_scale.unwrap().get_ref().scale, 2);
    let one_of = c.one_of.unwrap().into_inner();
    assert_eq!(one_of.values, ["a", "2", "true"]);
    assert_eq!(one_of.level, level(Severity::Warning, Tolerance::Count(5)));
}

#[test]
fn rule_errors_point_at_file_line_col() {
    let cases: &[(&str, &str)] = &[
        (
            "emial = \"BLOCKER\"",
            "m.toml:8:12: unknown field `emial`, expected one of",
        ),
        ("email = \"FATAL\"", "m.toml:8:20: unknown severity `FATAL`"),
        (
            "email = { severity = \"BLOCKER\", tolerence = 1 }",
            "m.toml:8:44: unknown field `tolerence`, expected `severity` or `tolerance`",
        ),
        (
            "email = { tolerance = 1.5 }",
            "m.toml:8:34: tolerance 1.5: a ratio must be",
        ),
        (
            "email = { tolerance = -1 }",
            "m.toml:8:34: tolerance -1 is negative",
        ),
        (
            "regex = \"([a-z\"",
            "m.toml:8:20: regex `([a-z` is not a valid pattern",
        ),
        (
            "range = [1]",
            "m.toml:8:20: `range = [min, max]` takes two bounds",
        ),
        (
            "range = [5, 1]",
            "m.toml:8:20: `range` min 5 is above max 1",
        ),
        (
            "range = { severity = \"WARNING\" }",
            "m.toml:8:20: `range` needs `min`, `max` or both",
        ),
        (
            "range = [true, 2]",
            "m.toml:8:20: a `range` bound cannot be a boolean",
        ),
        (
            "max_scale = 1001",
            "m.toml:8:24: max_scale 1001 is out of range",
        ),
        ("one_of = []", "m.toml:8:21: `one_of` lists no value"),
        (
            "one_of = [1.5]",
            "m.toml:8:21: `one_of` value 1.5: write decimals as strings",
        ),
    ];
    for (rules, want) in cases {
        let got = checks(rules).unwrap_err();
        assert!(got.starts_with(want), "\n got: {got}\nwant: {want}");
    }
    let pii = format!("{HEAD}[tables.columns.c]\nfrom = \"c\"\npii = \"yes\"\n");
    let got = parse("m.toml", &pii).unwrap_err().to_string();
    assert!(
        got.starts_with("m.toml:8:7: invalid type: string \"yes\", expected a boolean"),
        "{got}"
    );
}

#[test]
fn rules_that_cannot_check_the_column_type_are_blockers_in_the_mapping() {
    let cases: &[(&str, PgType, &str)] = &[
        ("email = \"BLOCKER\"", PgType::Int4, "rule `email` cannot check column `c` (int4): it checks text columns only"),
        ("max_scale = 2", PgType::Text, "rule `max_scale` cannot check column `c` (text): it checks numeric columns only"),
        ("range = [0, 9]", PgType::Text, "rule `range` on `c` (text): `min` 0: `range` checks numbers"),
        ("range = [\"a\", \"b\"]", PgType::Int8, "rule `range` on `c` (int8): `min` \"a\": a bound of a number column must be a number"),
        ("range = { min = \"2024-13-01\" }", PgType::Date, "rule `range` on `c` (date): `min` \"2024-13-01\": invalid input syntax for type date"),
        ("range = { min = \"2024-01-01\" }", PgType::Timestamptz { precision: None }, "rule `range` on `c` (timestamptz): `min` \"2024-01-01\": timestamptz text \"2024-01-01\" has no UTC offset"),
        ("range = [\"2024-02-01\", \"2024-01-01\"]", PgType::Date, "rule `range` on `c` (date): `min` is above `max`"),
        ("one_of = [\"1\"]", PgType::Interval, "rule `one_of` cannot check column `c` (interval)"),
    ];
    for (rules, ty, want) in cases {
        let (r, f) = compiled(rules, ty.clone());
        assert!(r.is_empty(), "{rules}");
        assert_eq!(f.len(), 1, "{rules}: {f:?}");
        assert_eq!(f[0].severity, Severity::Blocker);
        let at = f[0].location.as_deref().unwrap_or_default();
        assert!(
            at.starts_with("m.toml:8:"),
            "{rules}: the rule's line, got {at}"
        );
        assert!(
            f[0].message.starts_with(want),
            "\n got: {}\nwant: {want}",
            f[0].message
        );
    }
}

#[test]
fn a_rule_on_a_column_missing_from_the_target_is_a_blocker() {
    let text =
        format!("{HEAD}[tables.columns.gone]\nfrom = \"c\"\nchecks = {{ email = \"BLOCKER\" }}\n");
    let m = parse("m.toml", &text).unwrap();
    let (r, f) = compile(&m, &m.tables[0], "m.toml", &table(&[("c", PgType::Text)]));
    assert!(r.is_empty());
    assert_eq!(f[0].location.as_deref(), Some("m.toml:6:17"));
    assert!(
        f[0].message.contains("no such column in target table `t`"),
        "{}",
        f[0].message
    );
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

#[test]
fn values_break_rules_like_the_sql_says() {
    let t = PgType::Text;
    let cases: Vec<(&str, PgType, Value, bool)> = vec![
        ("not_empty = \"BLOCKER\"", t.clone(), Value::Null, true),
        ("not_empty = \"BLOCKER\"", t.clone(), text(""), true),
        ("not_empty = \"BLOCKER\"", t.clone(), text(" \t\n"), true),
        ("not_empty = \"BLOCKER\"", t.clone(), text(" x "), false),
        // Blanks are ASCII on both sides: an em space is a character (PostgreSQL's `[:space:]`
        // would follow the locale).
        (
            "not_empty = \"BLOCKER\"",
            t.clone(),
            text("\u{2003}"),
            false,
        ),
        (
            "not_empty = \"BLOCKER\"",
            PgType::Int4,
            Value::Int(0),
            false,
        ),
        ("not_empty = \"BLOCKER\"", PgType::Int4, Value::Null, true),
        ("email = \"BLOCKER\"", t.clone(), Value::Null, false),
        (
            "email = \"BLOCKER\"",
            t.clone(),
            text("ada@example.com"),
            false,
        ),
        (
            "email = \"BLOCKER\"",
            t.clone(),
            text("élise@exemple.fr"),
            false,
        ),
        (
            "email = \"BLOCKER\"",
            t.clone(),
            text("bob@localhost"),
            true,
        ),
        ("email = \"BLOCKER\"", t.clone(), text("a@@b.com"), true),
        ("email = \"BLOCKER\"", t.clone(), text("a b@c.com"), true),
        ("email = \"BLOCKER\"", t.clone(), text("a@b..com"), true),
        ("email = \"BLOCKER\"", t.clone(), text(""), true),
        ("e164 = \"BLOCKER\"", t.clone(), text("+14155550132"), false),
        (
            "e164 = \"BLOCKER\"",
            t.clone(),
            text("(415) 555-0132"),
            true,
        ),
        ("e164 = \"BLOCKER\"", t.clone(), text("+0123456789"), true),
        ("e164 = \"BLOCKER\"", t.clone(), text("+123456"), true),
        (
            "url = \"BLOCKER\"",
            t.clone(),
            text("https://www.example.com/a?b#c"),
            false,
        ),
        (
            "url = \"BLOCKER\"",
            t.clone(),
            text("http://example.com:8080"),
            false,
        ),
        (
            "url = \"BLOCKER\"",
            t.clone(),
            text("www.example.com"),
            true,
        ),
        (
            "url = \"BLOCKER\"",
            t.clone(),
            text("https://localhost/"),
            true,
        ),
        (
            "url = \"BLOCKER\"",
            t.clone(),
            text("https://a.com/x y"),
            true,
        ),
        (
            "regex = \"^[A-Z]{3}$\"",
            PgType::Bpchar { len: Some(4) },
            text("USD "),
            false,
        ),
        ("regex = \"^[A-Z]{3}$\"", t.clone(), text("USD "), true),
        ("regex = \"[0-9]\"", t.clone(), text("ab1cd"), false),
        ("one_of = [\"a\", \"b\"]", t.clone(), text("b"), false),
        ("one_of = [\"a\", \"b\"]", t.clone(), text("B"), true),
        ("one_of = [1, 2]", PgType::Int2, Value::Int(2), false),
        ("one_of = [1, 2]", PgType::Int2, Value::Int(3), true),
        ("one_of = [true]", PgType::Bool, Value::Bool(false), true),
        (
            "one_of = [\"1.50\"]",
            PgType::Numeric {
                precision: None,
                scale: None,
            },
            Value::Numeric("1.50".into()),
            false,
        ),
        (
            "one_of = [\"1.5\"]",
            PgType::Numeric {
                precision: None,
                scale: None,
            },
            Value::Numeric("1.50".into()),
            true,
        ),
        ("range = [0, 100]", PgType::Int4, Value::Int(100), false),
        ("range = [0, 100]", PgType::Int4, Value::Int(101), true),
        ("range = [0, 100]", PgType::Int4, Value::Int(-1), true),
        (
            "range = [0, 0.5]",
            PgType::Numeric {
                precision: None,
                scale: None,
            },
            Value::Numeric("0.50".into()),
            false,
        ),
        (
            "range = [0, 0.5]",
            PgType::Numeric {
                precision: None,
                scale: None,
            },
            Value::Numeric("0.5000001".into()),
            true,
        ),
        (
            "range = [0, 0.5]",
            PgType::Numeric {
                precision: None,
                scale: None,
            },
            Value::Numeric("NaN".into()),
            true,
        ),
        (
            "range = { min = 0 }",
            PgType::Numeric {
                precision: None,
                scale: None,
            },
            Value::Numeric("NaN".into()),
            false,
        ),
        (
            "range = { max = 0 }",
            PgType::Numeric {
                precision: None,
                scale: None,
            },
            Value::Numeric("-Infinity".into()),
            false,
        ),
        (
            "range = [0, 1]",
            PgType::Float8,
            Value::Float(f64::NAN),
            true,
        ),
        ("range = [0, 1]", PgType::Float8, Value::Float(1.0), false),
        (
            "range = [\"2000-01-01\", \"2100-12-31\"]",
            PgType::Date,
            Value::Date(-1),
            true,
        ),
        (
            "range = [\"2000-01-01\", \"2100-12-31\"]",
            PgType::Date,
            Value::Date(0),
            false,
        ),
        (
            "range = [\"2000-01-01\", \"2100-12-31\"]",
            PgType::Date,
            Value::Date(i32::MAX),
            true,
        ),
        (
            "range = { min = \"2000-01-01 00:00:00+01\" }",
            PgType::Timestamptz { precision: None },
            Value::TimestampTz(-3_600_000_000),
            false,
        ),
        (
            "range = { min = \"2000-01-01 00:00:00+01\" }",
            PgType::Timestamptz { precision: None },
            Value::TimestampTz(-3_600_000_001),
            true,
        ),
        (
            "range = { min = \"2000-01-01\" }",
            PgType::Timestamp { precision: Some(3) },
            Value::Timestamp(-1),
            true,
        ),
        (
            "max_scale = 2",
            PgType::Numeric {
                precision: None,
                scale: None,
            },
            Value::Numeric("1.25".into()),
            false,
        ),
        (
            "max_scale = 2",
            PgType::Numeric {
                precision: None,
                scale: None,
            },
            Value::Numeric("1.250".into()),
            true,
        ),
        (
            "max_scale = 0",
            PgType::Numeric {
                precision: None,
                scale: None,
            },
            Value::Numeric("NaN".into()),
            false,
        ),
    ];
    for (rules, ty, v, want) in cases {
        let r = rule(rules, ty.clone());
        assert_eq!(r.violated_by(&v), want, "{rules} on {ty:?} {v:?}");
    }
}

#[test]
fn raw_values_decode_with_the_column_type() {
    let r = rule("range = [0, 10]", PgType::Int4);
    assert!(!r.violated_by_raw(Some(&7i32.to_be_bytes())));
    assert!(r.violated_by_raw(Some(&11i32.to_be_bytes())));
    assert!(!r.violated_by_raw(None));
    assert!(
        r.violated_by_raw(Some(&[1, 2])),
        "bytes that do not decode break the rule"
    );
}

#[test]
fn sql_predicates_quote_and_qualify() {
    let r = rule("regex = \"^it's$\"", PgType::Varchar { len: Some(9) });
    assert_eq!(
        r.violation_sql("\"c\""),
        "(\"c\" IS NOT NULL AND CAST(\"c\" AS pg_catalog.text) OPERATOR(pg_catalog.!~) '^it''s$')"
    );
    let r = rule("range = [\"2000-01-01\", \"2100-12-31\"]", PgType::Date);
    assert_eq!(
        r.violation_sql("c"),
        "(c IS NOT NULL AND (c < CAST('2000-01-01' AS pg_catalog.date) OR c > CAST('2100-12-31' AS pg_catalog.date)))"
    );
    let r = rule("range = { min = -1.5 }", PgType::Int8);
    assert_eq!(r.violation_sql("c"), "(c IS NOT NULL AND (c < (-1.5)))");
    let r = rule(
        "range = { max = \"2030-01-01 12:00:00+02\" }",
        PgType::Timestamptz { precision: Some(3) },
    );
    assert_eq!(
        r.violation_sql("c"),
        "(c IS NOT NULL AND (c > CAST('2030-01-01 10:00:00+00' AS pg_catalog.timestamptz)))"
    );
    let r = rule("one_of = [\"a\", \"b'c\"]", PgType::Text);
    assert_eq!(
        r.violation_sql("c"),
        "(c IS NOT NULL AND c OPERATOR(pg_catalog.<>) ALL (ARRAY['a', 'b''c']::pg_catalog.text[]))"
    );
    let r = rule("not_empty = \"BLOCKER\"", PgType::Date);
    assert_eq!(r.violation_sql("c"), "(c IS NULL)");
}

#[test]
fn decimals_compare_exactly() {
    let cases = [
        ("1.50", "1.5", Ordering::Equal),
        ("-0", "0.000", Ordering::Equal),
        ("10", "9.999999999999999999999", Ordering::Greater),
        ("-10", "-9.5", Ordering::Less),
        ("0.45", "0.5", Ordering::Less),
        (
            "123456789012345678901234567890",
            "123456789012345678901234567891",
            Ordering::Less,
        ),
        ("007", "7.0", Ordering::Equal),
        ("-0.001", "0", Ordering::Less),
    ];
    for (a, b, want) in cases {
        assert_eq!(cmp_decimal(a, b), want, "{a} vs {b}");
        assert_eq!(cmp_decimal(b, a), want.reverse(), "{b} vs {a}");
    }
}

#[test]
fn pii_columns_are_listed() {
    let text = format!(
        "{HEAD}[tables.columns.a]\nfrom = \"a\"\npii = true\n\n[tables.columns.b]\nfrom = \"b\"\n"
    );
    let m = parse("m.toml", &text).unwrap();
    assert_eq!(pii_columns(&m.tables[0]), ["a"]);
}

/// The example of docs/mapping.md's "Column rules" section parses, and its rules compile.
#[test]
fn docs_column_rules_example_parses() {
    let doc = include_str!("../../../../docs/mapping.md");
    let section = &doc[doc.find("## Column rules").expect("the section")..];
    let start = section.find("```toml\n").expect("a toml example") + 8;
    let len = section[start..].find("```").expect("closing fence");
    let text = format!("{HEAD}{}", &section[start..start + len]);
    let m = parse("mapping.md", &text).unwrap_or_else(|e| panic!("{e}"));
    let t = &m.tables[0];
    let target = table(&[
        ("phone", PgType::Text),
        (
            "amount",
            PgType::Numeric {
                precision: Some(14),
                scale: Some(2),
            },
        ),
        ("currency", PgType::Bpchar { len: Some(3) }),
        ("close_date", PgType::Date),
        ("website", PgType::Text),
    ]);
    let (rules, findings) = compile(&m, t, "mapping.md", &target);
    assert!(findings.is_empty(), "{findings:?}");
    let names: Vec<(&str, &str)> = rules
        .iter()
        .map(|r| (r.column.as_str(), r.check.name()))
        .collect();
    assert_eq!(
        names,
        [
            ("phone", "e164"),
            ("amount", "range"),
            ("amount", "max_scale"),
            ("currency", "regex"),
            ("currency", "one_of"),
            ("close_date", "not_empty"),
            ("close_date", "range"),
            ("website", "url"),
        ]
    );
    assert_eq!(pii_columns(t), ["phone"]);
    assert_eq!(rules[5].tolerance, Tolerance::Ratio(0.01));
    assert_eq!(rules[5].severity, Severity::Warning);
    assert_eq!(rules[7].tolerance, Tolerance::Count(10));
}

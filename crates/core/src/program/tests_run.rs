use std::sync::Arc;

use uuid::Uuid;

use super::fixtures::*;
use super::tests_compile::FULL;
use super::*;
use crate::mapping::identity;
use crate::pgtype::PgType;
use crate::value::Value;

/// µs since 2000-01-01 for `"YYYY-MM-DD HH:MM:SS"`.
fn micros(s: &str) -> i64 {
    let t = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
    let epoch = chrono::NaiveDate::from_ymd_opt(2000, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    (t - epoch).num_microseconds().unwrap()
}

fn id(table: &str, key: &str) -> Option<Value> {
    let ns = Uuid::parse_str(NS).unwrap();
    Some(Value::Uuid(
        *crate::transform::uuid_v5(&ns, table, &[key]).as_bytes(),
    ))
}

fn numeric_value(s: &str) -> Option<Value> {
    Some(Value::Numeric(s.into()))
}

#[test]
fn full_mapping_transforms_rejects_and_nulls() {
    let p = program(&mapping(FULL), &source_contacts(), &target_contacts());
    let batch = input(
        &p,
        &[
            ("id", vec![int(1), int(2), int(3), int(4)]),
            (
                "email_addr",
                vec![
                    text(" Ada@Example.COM "),
                    text("not an email"),
                    None,
                    text("grace@navy.mil"),
                ],
            ),
            (
                "phone",
                vec![text("(415) 555-0132"), text("call me"), None, None],
            ),
            ("status_cd", vec![text("A"), text("X"), None, text("I")]),
            (
                "amount",
                vec![
                    numeric_value("12.3456"),
                    None,
                    None,
                    numeric_value("-0.0050"),
                ],
            ),
            (
                "created_on",
                vec![
                    Some(Value::Timestamp(micros("2024-01-15 09:30:00"))),
                    None,
                    None,
                    Some(Value::Timestamp(i64::MAX)),
                ],
            ),
            ("first_name", vec![text("Ada"), None, None, None]),
            (
                "last_name",
                vec![text("Lovelace"), None, None, text("Hopper")],
            ),
            ("owner_user_id", vec![int(7), int(7), None, None]),
        ],
    );
    let out = p.run(&batch);
    assert_eq!(
        out.rejects,
        [
            RowReject {
                row: 1,
                key: r#"["2"]"#.into(),
                column: "phone".into(),
                reason: "phone `call me` is not a valid number for region US".into(),
            },
            RowReject {
                row: 2,
                key: r#"["3"]"#.into(),
                column: "status".into(),
                reason: "NULL in NOT NULL column `status`".into(),
            },
        ]
    );
    // Row 1's email was nulled, but row 1 is rejected: only loaded rows count.
    assert_eq!(out.nulled, 0);
    assert_eq!(out.batch.num_rows(), 2);
    let col = |name: &str| output(&p, &out, name);
    assert_eq!(col("id"), [id("contacts", "1"), id("contacts", "4")]);
    assert_eq!(
        col("email"),
        [text("ada@example.com"), text("grace@navy.mil")]
    );
    assert_eq!(col("phone"), [text("+14155550132"), None]);
    assert_eq!(col("status"), [text("active"), text("inactive")]);
    assert_eq!(
        col("amount"),
        [numeric_value("12.35"), numeric_value("-0.01")]
    );
    assert_eq!(
        col("created_at"),
        [
            Some(Value::TimestampTz(micros("2024-01-15 14:30:00"))),
            Some(Value::TimestampTz(i64::MAX))
        ]
    );
    assert_eq!(col("full_name"), [text("Ada Lovelace"), text("Hopper")]);
    assert_eq!(col("owner_id"), [id("users", "7"), None]);
    assert_eq!(col("currency"), [text("USD"), text("USD")]);
    assert_eq!(out.batch.schema(), *p.schema());
}

#[test]
fn untouched_columns_share_the_input_arrays() {
    let source = source_contacts();
    let m = identity(std::slice::from_ref(&source), "legacy", "crm");
    let p = program(&m, &source, &source);
    assert!(p.is_identity());
    let n = |i: i64| vec![int(i), int(i + 1), int(i + 2)];
    let mut columns: Vec<(&str, Vec<Option<Value>>)> =
        vec![("id", n(1)), ("age", n(30)), ("owner_user_id", n(5))];
    for name in [
        "email_addr",
        "phone",
        "status_cd",
        "first_name",
        "last_name",
    ] {
        columns.push((name, vec![text("a"), None, text("b")]));
    }
    for name in ["amount", "created_on", "blob", "modified_on"] {
        columns.push((name, vec![None, None, None]));
    }
    let batch = input(&p, &columns);
    let out = p.run(&batch);
    assert_eq!(out.rejects, []);
    for (i, column) in out.batch.columns().iter().enumerate() {
        assert!(
            Arc::ptr_eq(column, batch.column(i)),
            "column {i} was copied"
        );
    }

    // A NULL key rejects the row: every column is filtered, values stay aligned.
    let mut columns = columns.clone();
    columns[0].1[1] = None;
    let batch = input(&p, &columns);
    let out = p.run(&batch);
    assert_eq!(out.rejects.len(), 1);
    assert_eq!(
        (out.rejects[0].row, out.rejects[0].key.as_str()),
        (1, "[null]")
    );
    assert_eq!(output(&p, &out, "id"), [int(1), int(3)]);
    assert_eq!(output(&p, &out, "age"), [int(30), int(32)]);
    assert_eq!(output(&p, &out, "email_addr"), [text("a"), text("b")]);
}

/// `v` (varchar(5) ← text) with the given column options, run on four values.
fn run_varchar(
    options: &str,
    not_null_target: bool,
) -> (Vec<Option<Value>>, Vec<(usize, String)>, u64) {
    let source = table(
        "public",
        "s",
        vec![col("k", PgType::Int4), col("v", PgType::Text)],
        &["k"],
    );
    let mut v = col("v", varchar(5));
    v.not_null = not_null_target;
    let target = table("public", "s", vec![col("k", PgType::Int4), v], &["k"]);
    let m = mapping(&format!(
        "[[tables]]\nsource = \"s\"\n[tables.columns.k]\nfrom = \"k\"\n[tables.columns.v]\nfrom = \"v\"\n{options}\n"
    ));
    let p = program(&m, &source, &target);
    let batch = input(
        &p,
        &[
            ("k", vec![int(1), int(2), int(3), int(4)]),
            (
                "v",
                vec![text("abc"), text("abcdefgh"), None, text("  x  ")],
            ),
        ],
    );
    let out = p.run(&batch);
    let rejects = out
        .rejects
        .iter()
        .map(|r| (r.row, r.reason.clone()))
        .collect();
    (output(&p, &out, "v"), rejects, out.nulled)
}

#[test]
fn on_error_decides_what_a_failed_value_becomes() {
    let too_long = "value too long for type character varying(5)";
    struct Case {
        options: &'static str,
        not_null: bool,
        values: Vec<Option<Value>>,
        rejected: Vec<usize>,
        nulled: u64,
    }
    let cases = [
        Case {
            options: "",
            not_null: false,
            values: vec![text("abc"), None, text("  x  ")],
            rejected: vec![1],
            nulled: 0,
        },
        Case {
            options: "trim = true",
            not_null: false,
            values: vec![text("abc"), None, text("x")],
            rejected: vec![1],
            nulled: 0,
        },
        Case {
            options: "on_error = \"null\"",
            not_null: false,
            values: vec![text("abc"), None, None, text("  x  ")],
            rejected: vec![],
            nulled: 1,
        },
        Case {
            options: "on_error = \"default\"\ndefault = \"?\"",
            not_null: false,
            values: vec![text("abc"), text("?"), None, text("  x  ")],
            rejected: vec![],
            nulled: 0,
        },
        // NOT NULL: the NULL source value follows on_error too.
        Case {
            options: "",
            not_null: true,
            values: vec![text("abc"), text("  x  ")],
            rejected: vec![1, 2],
            nulled: 0,
        },
        Case {
            options: "on_error = \"null\"",
            not_null: true,
            values: vec![text("abc"), text("  x  ")],
            rejected: vec![1, 2],
            nulled: 0,
        },
        Case {
            options: "on_error = \"default\"\ndefault = \"?\"",
            not_null: true,
            values: vec![text("abc"), text("?"), text("?"), text("  x  ")],
            rejected: vec![],
            nulled: 0,
        },
    ];
    for case in cases {
        let (values, rejects, nulled) = run_varchar(case.options, case.not_null);
        let label = format!("{:?} not_null={}", case.options, case.not_null);
        assert_eq!(values, case.values, "{label}");
        assert_eq!(
            rejects.iter().map(|r| r.0).collect::<Vec<_>>(),
            case.rejected,
            "{label}"
        );
        assert_eq!(nulled, case.nulled, "{label}");
        for (row, reason) in rejects {
            let want = if row == 2 {
                "NULL in NOT NULL column `v`"
            } else {
                too_long
            };
            assert!(reason.starts_with(want), "{label}: {reason}");
        }
    }
}

#[test]
fn rejects_name_the_first_failing_column_in_row_order() {
    let source = table(
        "public",
        "s",
        vec![
            col("a", PgType::Text),
            col("b", PgType::Int4),
            col("x", PgType::Text),
            col("y", PgType::Text),
        ],
        &["a", "b"],
    );
    let target = table(
        "public",
        "s",
        vec![
            col("a", PgType::Text),
            col("b", PgType::Int4),
            col("x", PgType::Int2),
            col("y", PgType::Int2),
        ],
        &["a", "b"],
    );
    let m = mapping("[[tables]]\nsource = \"s\"\ncopy_unmapped = true\n");
    let p = program(&m, &source, &target);
    let batch = input(
        &p,
        &[
            ("a", vec![text("k\"1"), text("k2"), text("k3"), text("k4")]),
            ("b", vec![int(1), int(2), int(3), int(4)]),
            ("x", vec![text("1"), text("x"), text("3"), text("99999")]),
            ("y", vec![text("y"), text("y"), text("3"), text("4")]),
        ],
    );
    let out = p.run(&batch);
    let got: Vec<(usize, &str, &str)> = out
        .rejects
        .iter()
        .map(|r| (r.row, r.key.as_str(), r.column.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (0, r#"["k\"1","1"]"#, "y"),
            (1, r#"["k2","2"]"#, "x"),
            (3, r#"["k4","4"]"#, "x")
        ]
    );
    assert!(
        out.rejects[2].reason.contains("out of range"),
        "{}",
        out.rejects[2].reason
    );
    assert_eq!(output(&p, &out, "x"), [int(3)]);
    assert_eq!(output(&p, &out, "a"), [text("k3")]);
}

#[test]
fn codes_map_by_text_and_integers_by_their_decimal_text() {
    let source = table(
        "public",
        "s",
        vec![
            col("k", PgType::Int4),
            col("c", PgType::Bpchar { len: Some(3) }),
            col("n", PgType::Int2),
        ],
        &["k"],
    );
    let target = table(
        "public",
        "s",
        vec![
            col("k", PgType::Int4),
            col(
                "c",
                PgType::Enum {
                    name: "state".into(),
                    labels: vec![],
                },
            ),
            col("n", PgType::Text),
        ],
        &["k"],
    );
    let m = mapping(
        "[[tables]]\nsource = \"s\"\n[tables.columns.k]\nfrom = \"k\"\n[tables.columns.c]\nfrom = \"c\"\nmap = { A = \"active\", BB = \"blocked\" }\n[tables.columns.n]\nfrom = \"n\"\nmap = { 1 = \"one\", \"-2\" = \"minus two\" }\ndefault = \"other\"\n",
    );
    let p = program(&m, &source, &target);
    let batch = input(
        &p,
        &[
            ("k", vec![int(1), int(2), int(3), int(4)]),
            ("c", vec![text("A"), text("BB"), None, text("Z")]),
            ("n", vec![int(1), int(-2), int(7), None]),
        ],
    );
    let out = p.run(&batch);
    assert_eq!(out.rejects.len(), 1);
    assert_eq!(
        out.rejects[0].reason,
        "code `Z  ` is not in `map` and there is no `default`"
    );
    assert_eq!(
        output(&p, &out, "c"),
        [text("active"), text("blocked"), None]
    );
    assert_eq!(
        output(&p, &out, "n"),
        [text("one"), text("minus two"), text("other")]
    );
}

#[test]
fn uuid_from_composite_keys_and_empty_batches() {
    let source = table(
        "public",
        "s",
        vec![col("a", PgType::Int4), col("b", PgType::Text)],
        &["a", "b"],
    );
    let target = table(
        "public",
        "s",
        vec![not_null(col("id", PgType::Uuid))],
        &["id"],
    );
    let m = mapping("[[tables]]\nsource = \"s\"\n[tables.columns.id]\nuuid = { table = \"lines\", from = [\"a\", \"b\"] }\n");
    let p = program(&m, &source, &target);
    let batch = input(
        &p,
        &[("a", vec![int(7), int(8)]), ("b", vec![text("x"), None])],
    );
    let out = p.run(&batch);
    let ns = Uuid::parse_str(NS).unwrap();
    let want = Uuid::new_v5(&ns, b"lines:7:x");
    assert_eq!(
        output(&p, &out, "id"),
        [Some(Value::Uuid(*want.as_bytes()))]
    );
    assert_eq!(out.rejects[0].reason, "NULL in NOT NULL column `id`");
    assert_eq!(out.rejects[0].key, r#"["8",null]"#);

    let empty = input(&p, &[("a", vec![]), ("b", vec![])]);
    let out = p.run(&empty);
    assert_eq!(
        (
            out.batch.num_rows(),
            out.batch.num_columns(),
            out.rejects.len()
        ),
        (0, 1, 0)
    );
}

#[test]
fn run_is_deterministic_across_batch_splits() {
    let p = program(&mapping(FULL), &source_contacts(), &target_contacts());
    let emails = ["a@b.co", "bad", " C@D.org ", "x@y", "e@f.gh"];
    let columns = |range: std::ops::Range<usize>| -> Vec<(&'static str, Vec<Option<Value>>)> {
        let r = range.clone();
        vec![
            ("id", r.clone().map(|i| int(i as i64)).collect()),
            ("email_addr", r.clone().map(|i| text(emails[i])).collect()),
            ("phone", r.clone().map(|_| None).collect()),
            (
                "status_cd",
                r.clone()
                    .map(|i| if i == 3 { text("Q") } else { text("A") })
                    .collect(),
            ),
            (
                "amount",
                r.clone()
                    .map(|i| numeric_value(&format!("{i}.125")))
                    .collect(),
            ),
            ("created_on", r.clone().map(|_| None).collect()),
            ("first_name", r.clone().map(|_| text("F")).collect()),
            ("last_name", r.clone().map(|_| None).collect()),
            ("owner_user_id", r.map(|i| int(i as i64 * 10)).collect()),
        ]
    };
    let whole = p.run(&input(&p, &columns(0..5)));
    let first = p.run(&input(&p, &columns(0..2)));
    let second = p.run(&input(&p, &columns(2..5)));
    let glued =
        arrow_select::concat::concat_batches(p.schema(), [&first.batch, &second.batch]).unwrap();
    assert_eq!(whole.batch, glued);
    assert_eq!(whole.nulled, first.nulled + second.nulled);
    assert_eq!(whole.nulled, 2);
    assert_eq!(output(&p, &whole, "amount")[1], numeric_value("1.13"));
}

#[test]
fn programs_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<TableProgram>();
    shareable::<Transformed>();
}

#[test]
fn remembered_foreign_key_ids_are_those_of_their_own_table_and_namespace() {
    let source = table(
        "public",
        "s",
        vec![
            col("id", PgType::Int4),
            col("owner", PgType::Int4),
            col("account", PgType::Int4),
            col("code", PgType::Text),
        ],
        &["id"],
    );
    let target = table(
        "public",
        "s",
        vec![
            not_null(col("id", PgType::Uuid)),
            col("owner_id", PgType::Uuid),
            col("account_id", PgType::Uuid),
            col("code_id", PgType::Uuid),
        ],
        &["id"],
    );
    let body = |ns: &str| {
        format!(
            "{}[[tables]]\nsource = \"s\"\n\
             [tables.columns.id]\nuuid = {{ table = \"s\", from = \"id\" }}\n\
             [tables.columns.owner_id]\nuuid = {{ table = \"users\", from = \"owner\" }}\n\
             [tables.columns.account_id]\nuuid = {{ table = \"accounts\", from = \"account\" }}\n\
             [tables.columns.code_id]\nuuid = {{ table = \"codes\", from = \"code\" }}\n",
            HEAD.replace(NS, ns)
        )
    };
    let other_ns = "0b6c7e2a-1d3f-4a5b-8c9d-0e1f2a3b4c5d";
    for ns in [NS, other_ns, NS] {
        let m = crate::mapping::parse("mapping.toml", &body(ns)).unwrap();
        let p = program(&m, &source, &target);
        // The same keys (the same bytes) twice over, in each column.
        let keys = [7, 8, 7, 9, 8, 7];
        let batch = input(
            &p,
            &[
                ("id", (0..6).map(int).collect()),
                ("owner", keys.iter().map(|&k| int(k)).collect()),
                ("account", keys.iter().map(|&k| int(k)).collect()),
                ("code", keys.iter().map(|k| text(&k.to_string())).collect()),
            ],
        );
        let out = p.run(&batch);
        let ns = Uuid::parse_str(ns).unwrap();
        let ids = |table: &str, keys: &[i64]| -> Vec<Option<Value>> {
            keys.iter()
                .map(|k| {
                    let id = crate::transform::uuid_v5(&ns, table, &[&k.to_string()]);
                    Some(Value::Uuid(*id.as_bytes()))
                })
                .collect()
        };
        assert_eq!(output(&p, &out, "id"), ids("s", &[0, 1, 2, 3, 4, 5]));
        assert_eq!(output(&p, &out, "owner_id"), ids("users", &keys));
        assert_eq!(output(&p, &out, "account_id"), ids("accounts", &keys));
        assert_eq!(output(&p, &out, "code_id"), ids("codes", &keys));
    }
}

#[test]
fn foreign_key_ids_are_right_whether_or_not_their_values_repeat() {
    let source = table(
        "public",
        "s",
        vec![col("id", PgType::Int8), col("parent", PgType::Int8)],
        &["id"],
    );
    let target = table(
        "public",
        "s",
        vec![col("id", PgType::Int8), col("parent_id", PgType::Uuid)],
        &["id"],
    );
    let m = mapping(
        "[[tables]]\nsource = \"s\"\n[tables.columns.id]\nfrom = \"id\"\n\
         [tables.columns.parent_id]\nuuid = { table = \"parents\", from = \"parent\" }\n",
    );
    let p = program(&m, &source, &target);
    // Distinct parents first (the memo stops paying and is left alone), then a few, repeated.
    let parents: Vec<i64> = (0..3000).chain((0..3000).map(|i| i % 7)).collect();
    let batch = input(
        &p,
        &[
            ("id", (0..parents.len() as i64).map(int).collect()),
            ("parent", parents.iter().map(|&k| int(k)).collect()),
        ],
    );
    let out = p.run(&batch);
    let want: Vec<Option<Value>> = parents
        .iter()
        .map(|k| id("parents", &k.to_string()))
        .collect();
    assert_eq!(output(&p, &out, "parent_id"), want);
}

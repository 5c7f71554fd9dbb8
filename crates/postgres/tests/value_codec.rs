//! `cutover_core::value` against PostgreSQL itself: bytes the server sends decode and re-encode
//! to the same bytes and print like the server's output functions; casts into a typmod give
//! the bytes the server stores for the same assignment (or fail where it fails).
mod common;

use common::{RawValue, TestDb};
use cutover_core::pgtype::PgType;
use cutover_core::value::{decode, encode, Value};
use rand::{Rng, SeedableRng};

/// Reads back the PgType of column `v` of `table` the way the catalog code would build it.
async fn column_type(db: &TestDb, table: &str) -> PgType {
    let row = db
        .client
        .query_one(
            "SELECT t.typname::text, t.typtype::text, a.atttypmod FROM pg_attribute a \
             JOIN pg_type t ON t.oid = a.atttypid WHERE a.attrelid = $1::text::regclass AND a.attname = 'v'",
            &[&table],
        )
        .await
        .expect("column type");
    let typtype: String = row.get(1);
    PgType::from_catalog(
        row.get::<_, &str>(0),
        typtype.chars().next().unwrap_or('b'),
        row.get(2),
        None,
    )
}

/// Selects `expr` in binary and as text: as its output function prints it (`format('%s')`),
/// except bool, which prints `true`/`false` as its `::text` cast does (boolout prints `t`/`f`).
async fn select(db: &TestDb, expr: &str) -> (Vec<u8>, String) {
    let sql = format!(
        "SELECT ({expr}), CASE WHEN pg_typeof({expr}) = 'bool'::regtype THEN ({expr})::text \
         ELSE format('%s', ({expr})) END"
    );
    let row = db.client.query_one(&sql, &[]).await.expect(&sql);
    (row.get::<_, RawValue>(0).0, row.get(1))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// (SQL type, its PgType, literals); as_text is checked unless the type decodes to Raw.
fn scalar_cases() -> Vec<(&'static str, PgType, Vec<&'static str>)> {
    let ts = PgType::Timestamp { precision: None };
    let tstz = PgType::Timestamptz { precision: None };
    vec![
        ("bool", PgType::Bool, vec!["true", "false"]),
        ("int2", PgType::Int2, vec!["'-32768'", "0", "32767"]),
        (
            "int4",
            PgType::Int4,
            vec!["'-2147483648'", "7", "2147483647"],
        ),
        (
            "int8",
            PgType::Int8,
            vec!["'-9223372036854775808'", "9223372036854775807"],
        ),
        (
            "float8",
            PgType::Float8,
            vec![
                "'NaN'",
                "'Infinity'",
                "'-Infinity'",
                "'-0'",
                "0",
                "0.1",
                "1e15",
                "123456789012345",
                "1e-5",
                "1e-4",
                "1.7976931348623157e308",
                "5e-324",
                "-2.5",
                "1e22",
                "1e21",
                "0.30000000000000004",
                "100",
                "123.456e-300",
                "9007199254740993",
                "2311524594107360256",
                "29.0820465087890625",
            ],
        ),
        (
            "numeric",
            PgType::Numeric {
                precision: None,
                scale: None,
            },
            vec![
                "'NaN'",
                "'Infinity'",
                "'-Infinity'",
                "0",
                "0.000",
                "-0.5",
                "1e-30",
                "-1e100",
                "9999.9999",
                "10000",
                "0.0001",
                "1.00001",
                "100000000",
                "-0.00000001",
                "12345678901234567890123456789012345678901234567890.123456789",
                "'1e1000'",
                "'-1e-1000'",
            ],
        ),
        (
            "numeric(10,2)",
            PgType::Numeric {
                precision: Some(10),
                scale: Some(2),
            },
            vec!["5", "-0.005", "12345678.999", "0"],
        ),
        (
            "text",
            PgType::Text,
            vec!["''", "'héllo 🌍'", r"'back\slash'", "E'tab\\t'"],
        ),
        (
            "varchar(5)",
            PgType::Varchar { len: Some(5) },
            vec!["'abc'", "'abcde  '"],
        ),
        (
            "char(5)",
            PgType::Bpchar { len: Some(5) },
            vec!["'ab'", "''", "'é'"],
        ),
        ("name", PgType::Name, vec!["'pg_class'"]),
        ("bytea", PgType::Bytea, vec![r"'\x'", r"'\x00ff10'"]),
        (
            "uuid",
            PgType::Uuid,
            vec!["'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"],
        ),
        (
            "date",
            PgType::Date,
            vec![
                "'infinity'",
                "'-infinity'",
                "'2000-01-01'",
                "'4714-11-24 BC'",
                "'0001-01-01 BC'",
                "'0001-01-01'",
                "'5874897-12-31'",
                "'2024-02-29'",
                "'1900-03-01'",
                "'1600-02-29'",
                "'0045-01-01 BC'",
                "'10000-01-01'",
            ],
        ),
        (
            "time",
            PgType::Time { precision: None },
            vec!["'00:00'", "'24:00'", "'12:34:56.789012'", "'23:59:59.5'"],
        ),
        (
            "timestamp",
            ts,
            vec![
                "'infinity'",
                "'-infinity'",
                "'4714-11-24 00:00:00 BC'",
                "'294276-12-31 23:59:59.999999'",
                "'2000-01-01'",
                "'1999-12-31 23:59:59.5'",
                "'0044-03-15 12:00 BC'",
                "'1970-01-01 00:00:00.000001'",
            ],
        ),
        (
            "timestamptz",
            tstz,
            vec![
                "'infinity'",
                "'-infinity'",
                "'2024-06-01 12:00:00+05:30'",
                "'0044-03-15 12:00:00+00 BC'",
                "'1900-01-01 00:00:00.25+00'",
            ],
        ),
        (
            "json",
            PgType::Json,
            vec![
                r#"'{"b":1, "a":[1e400, 12345678901234567890.123456789]}'"#,
                r#"'"x"'"#,
                "'null'",
            ],
        ),
        (
            "jsonb",
            PgType::Jsonb,
            vec![
                r#"'{"b":1, "a":[1e400, 12345678901234567890.123456789]}'"#,
                r#"'{"aa":1,"b":2,"a":{"z":[]},"b":3}'"#,
                r#"'"\u00e9\n\u001f"'"#,
                "'[1.0, -0, 1E-3, 1.5e+2, true, null]'",
                r#"'{"é": 1, "z": 2, "": 0}'"#,
            ],
        ),
        (
            "interval",
            PgType::Interval,
            vec!["'1 year 2 mons -3 days 04:05:06.789'"],
        ),
        ("inet", PgType::Inet, vec!["'192.168.1.5/24'", "'::1'"]),
        ("money", PgType::Money, vec!["'-92233720368547758.08'"]),
        (
            "timetz",
            PgType::TimeTz { precision: None },
            vec!["'12:00+05:30'"],
        ),
        (
            "int4[]",
            PgType::Array(Box::new(PgType::Int4)),
            vec!["'{1,NULL,3}'", "'{}'"],
        ),
    ]
}

#[tokio::test]
async fn server_bytes_decode_reencode_and_print_like_postgres() {
    let db = TestDb::create("ct_val").await;
    let mut checked = 0;
    for (type_sql, ty, literals) in scalar_cases() {
        for lit in literals {
            let (raw, pg_text) = select(&db, &format!("{lit}::{type_sql}")).await;
            let v = decode(&ty, &raw).unwrap_or_else(|e| panic!("decode {lit}::{type_sql}: {e}"));
            let mut again = Vec::new();
            encode(&ty, &v, &mut again).unwrap_or_else(|e| panic!("encode {lit}::{type_sql}: {e}"));
            assert_eq!(
                hex(&again),
                hex(&raw),
                "{lit}::{type_sql} re-encodes to the same bytes"
            );
            match &v {
                Value::Raw(_) => assert_eq!(v.as_text(), None),
                _ => assert_eq!(
                    v.as_text().as_deref(),
                    Some(pg_text.as_str()),
                    "as_text of {lit}::{type_sql}"
                ),
            }
            checked += 1;
        }
    }
    assert!(checked > 90, "{checked}");
}

#[tokio::test]
async fn float_text_matches_float8out_for_random_values() {
    // Shortest round-trip digits must agree with PostgreSQL's Ryu output for any double.
    let db = TestDb::create("ct_val").await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let stmt = db
        .client
        .prepare("SELECT $1::float8::text, $2::float4::float8::text")
        .await
        .expect("prepare");
    for _ in 0..500 {
        let x = f64::from_bits(rng.gen());
        let y = f32::from_bits(rng.gen());
        let row = db
            .client
            .query_one(&stmt, &[&x, &y])
            .await
            .expect("select float");
        let pg_x: String = row.get(0);
        let pg_y: String = row.get(1);
        assert_eq!(
            Value::Float(x).as_text().as_deref(),
            Some(pg_x.as_str()),
            "{x:e}"
        );
        // A float4 decodes to its exact f64 and prints as float8 does.
        let raw = y.to_be_bytes();
        let v = decode(&PgType::Float4, &raw).expect("float4");
        assert_eq!(v.as_text().as_deref(), Some(pg_y.as_str()), "{y:e}");
    }
}

/// How the source value reaches the target column on the server side.
enum Source {
    /// `INSERT INTO t SELECT <expr>`: an assignment cast from the expression's type; our side
    /// decodes the expression's binary value with this PgType.
    Typed(&'static str, PgType),
    /// `INSERT INTO t VALUES ('<text>')`: the target type's input function; our side encodes
    /// `Value::Text(text)`.
    Literal(&'static str),
}

#[tokio::test]
async fn casts_into_typmods_match_what_postgres_stores() {
    use PgType as T;
    use Source::{Literal, Typed};
    let db = TestDb::create("ct_val").await;
    let numeric = T::Numeric {
        precision: None,
        scale: None,
    };
    let ts = T::Timestamp { precision: None };
    let tstz = T::Timestamptz { precision: None };
    let cases: Vec<(&str, Source)> = vec![
        ("numeric(10,2)", Typed("5::int8", T::Int8)),
        ("numeric(10,2)", Typed("0.005", numeric.clone())),
        ("numeric(10,2)", Typed("-0.005", numeric.clone())),
        ("numeric(10,2)", Typed("0.004", numeric.clone())),
        ("numeric(10,2)", Typed("-0.0049", numeric.clone())),
        ("numeric(5,2)", Typed("999.995", numeric.clone())),
        ("numeric(5,2)", Typed("999.994", numeric.clone())),
        ("numeric(5,2)", Typed("'NaN'::numeric", numeric.clone())),
        (
            "numeric(5,2)",
            Typed("'Infinity'::numeric", numeric.clone()),
        ),
        ("numeric(3,0)", Typed("1000::int4", T::Int4)),
        ("numeric(3,0)", Typed("999.5", numeric.clone())),
        ("numeric(3,0)", Typed("-999.49", numeric.clone())),
        ("numeric(4,-2)", Typed("1234.5", numeric.clone())),
        ("numeric(4,-2)", Typed("999999.5", numeric.clone())),
        ("numeric(2,3)", Typed("0.0994", numeric.clone())),
        ("numeric(2,3)", Typed("0.0995", numeric.clone())),
        (
            "numeric(60,0)",
            Typed(
                "12345678901234567890123456789012345678901.5",
                numeric.clone(),
            ),
        ),
        (
            "numeric(12,4)",
            Typed(
                "7.5::numeric(10,2)",
                T::Numeric {
                    precision: Some(10),
                    scale: Some(2),
                },
            ),
        ),
        ("numeric(10,2)", Literal("  1.5  ")),
        ("numeric(10,2)", Literal("1.23e1")),
        ("int2", Typed("-5::int8", T::Int8)),
        ("int2", Typed("70000::int4", T::Int4)),
        ("int8", Typed("42.000", numeric.clone())),
        ("int4", Literal(" -7 ")),
        ("float8", Typed("3::int8", T::Int8)),
        ("float8", Typed("0.1::numeric", numeric.clone())),
        ("float8", Typed("'-Infinity'::numeric", numeric.clone())),
        ("float4", Typed("0.1::float8", T::Float8)),
        ("float4", Typed("1e300::float8", T::Float8)),
        ("float8", Literal("1e-310")),
        ("varchar(3)", Typed("'abc  '::text", T::Text)),
        ("varchar(3)", Typed("'abcd'::text", T::Text)),
        ("varchar(3)", Typed("'ééé '::text", T::Text)),
        ("char(4)", Typed("'ab'::text", T::Text)),
        ("char(4)", Typed("'abcd  '::text", T::Text)),
        ("char(4)", Typed("'abcde'::text", T::Text)),
        ("char(3)", Typed("'é'::varchar", T::Varchar { len: None })),
        ("text", Typed("true", T::Bool)),
        ("text", Typed("42::int8", T::Int8)),
        ("text", Typed("0.1::float8", T::Float8)),
        ("text", Typed("'1e-5'::float8", T::Float8)),
        ("text", Typed("'0044-03-15 BC'::date", T::Date)),
        (
            "text",
            Typed("'2000-01-01 00:00:00.5+00'::timestamptz", tstz.clone()),
        ),
        (
            "text",
            Typed("'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid", T::Uuid),
        ),
        ("varchar(5)", Typed("123.45", numeric.clone())),
        ("varchar(5)", Typed("123.456", numeric.clone())),
        (
            "timestamp(3)",
            Typed("'2000-01-01 00:00:01.2345'::timestamp", ts.clone()),
        ),
        (
            "timestamp(3)",
            Typed("'1999-12-31 23:59:58.7655'::timestamp", ts.clone()),
        ),
        (
            "timestamp(3)",
            Typed("'1999-12-31 23:59:58.7654'::timestamp", ts.clone()),
        ),
        (
            "timestamp(0)",
            Typed("'2024-02-29 23:59:59.5'::timestamp", ts.clone()),
        ),
        (
            "timestamp(0)",
            Typed("'0044-03-15 12:00:00.5 BC'::timestamp", ts.clone()),
        ),
        ("timestamp(0)", Typed("'infinity'::timestamp", ts.clone())),
        (
            "timestamptz(2)",
            Typed("'2024-06-01 12:00:00.125+00'::timestamptz", tstz.clone()),
        ),
        ("timestamp(0)", Typed("'2024-02-29'::date", T::Date)),
        ("timestamp", Typed("'-infinity'::date", T::Date)),
        (
            "time(2)",
            Typed("'12:00:00.125'::time", T::Time { precision: None }),
        ),
        (
            "time(0)",
            Typed("'23:59:59.5'::time", T::Time { precision: None }),
        ),
        ("uuid", Literal("{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}")),
        ("uuid", Literal("a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11")),
        ("bool", Literal(" yes ")),
        ("bool", Literal("of")),
        ("date", Literal("0044-03-15 BC")),
        ("date", Literal("2023-02-29")),
        ("timestamp(6)", Literal("2024-02-29 12:00:00.1234567")),
        ("timestamp", Literal("2024-02-29T12:00:00")),
        ("timestamptz", Literal("2000-01-01 01:00:00+01")),
        ("timestamptz", Literal("2000-01-01 00:00:00-05:30")),
        ("time", Literal("13:05:00.25")),
        (
            "jsonb",
            Literal(r#"{"b":1, "a":[1e2, 1.50, -0], "b": 3, "c": "\u00e9\/"}"#),
        ),
        ("jsonb", Literal(r#"  "x"  "#)),
        ("json", Literal(r#"{"b":1,  "a":[1e2]}"#)),
        ("json", Literal(r#"{"b":}"#)),
        (
            "name",
            Literal("a_very_long_name_that_goes_on_and_on_past_the_sixty_three_byte_limit"),
        ),
    ];
    let total = cases.len();
    let mut stored = 0;
    for (k, (target_sql, source)) in cases.into_iter().enumerate() {
        let table = format!("cast_{k}");
        db.client
            .batch_execute(&format!("CREATE TABLE {table} (v {target_sql})"))
            .await
            .expect("create table");
        let target = column_type(&db, &table).await;
        let (insert, value, what) = match source {
            Typed(expr, ty) => {
                let (raw, _) = select(&db, expr).await;
                let v = decode(&ty, &raw).expect("decode source");
                (
                    format!("INSERT INTO {table} SELECT {expr}"),
                    v,
                    expr.to_string(),
                )
            }
            Literal(text) => (
                format!(
                    "INSERT INTO {table} VALUES ('{}')",
                    text.replace('\'', "''")
                ),
                Value::Text(text.to_string()),
                format!("'{text}'"),
            ),
        };
        let pg = match db.client.execute(&insert, &[]).await {
            Ok(_) => {
                let row = db
                    .client
                    .query_one(&format!("SELECT v FROM {table}"), &[])
                    .await
                    .expect("read back");
                Ok(hex(&row.get::<_, RawValue>(0).0))
            }
            Err(e) => Err(e
                .as_db_error()
                .map(|d| d.message().to_string())
                .unwrap_or_default()),
        };
        let mut out = Vec::new();
        let ours = encode(&target, &value, &mut out).map(|()| hex(&out));
        match (&pg, &ours) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a, b, "{what} into {target_sql}");
                stored += 1;
            }
            (Err(_), Err(_)) => {}
            _ => panic!("{what} into {target_sql}: PostgreSQL {pg:?}, cutover {ours:?}"),
        }
    }
    // Most cases store a value; the rest are errors on both sides.
    assert!(
        stored >= total - 20,
        "{stored} of {total} cases stored a value"
    );
}

//! Table-driven tests of `decode` / `encode` / `can_cast` / `as_text` across types. Expected
//! bytes and texts are what PostgreSQL 15 sends and prints for the same values.
use super::*;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn enc(ty: &PgType, v: &Value) -> Result<String, ValueError> {
    let mut out = Vec::new();
    encode(ty, v, &mut out).map(|()| hex(&out))
}

fn numeric(p: u16, s: u16) -> PgType {
    PgType::Numeric {
        precision: Some(p),
        scale: Some(s),
    }
}

const NUMERIC: PgType = PgType::Numeric {
    precision: None,
    scale: None,
};
const TS: PgType = PgType::Timestamp { precision: None };
const TSTZ: PgType = PgType::Timestamptz { precision: None };

#[test]
fn decode_encode_round_trips_and_prints_like_postgres() {
    // (type, send bytes, text output)
    let cases: Vec<(PgType, &str, &str)> = vec![
        (PgType::Bool, "01", "true"),
        (PgType::Bool, "00", "false"),
        (PgType::Int2, "8000", "-32768"),
        (PgType::Int4, "7fffffff", "2147483647"),
        (PgType::Int8, "8000000000000000", "-9223372036854775808"),
        (PgType::Float8, "3fb999999999999a", "0.1"),
        (PgType::Float8, "8000000000000000", "-0"),
        (PgType::Float8, "7ff8000000000000", "NaN"),
        (PgType::Float8, "7ff0000000000000", "Infinity"),
        (PgType::Float8, "fff0000000000000", "-Infinity"),
        (PgType::Float4, "3fc00000", "1.5"),
        (PgType::Float4, "7fc00000", "NaN"),
        (PgType::Float4, "80000000", "-0"),
        (PgType::Float4, "ff800000", "-Infinity"),
        (NUMERIC, "00000000c0000000", "NaN"),
        (NUMERIC, "00000000d0000020", "Infinity"),
        (NUMERIC, "00000000f0000020", "-Infinity"),
        (NUMERIC, "0000000000000002", "0.00"),
        (
            NUMERIC,
            "000b00094000000404d2162e23340d801ed204d2162e23340d801ed20bb8",
            "-1234567890123456789012345678901234567890.3000",
        ),
        (PgType::Text, "68c3a9", "hé"),
        (PgType::Bpchar { len: Some(3) }, "612020", "a  "),
        (PgType::Json, "7b2261223a317d", "{\"a\":1}"),
        (PgType::Jsonb, "017b2261223a20317d", "{\"a\": 1}"),
        (PgType::Bytea, "00ff", "\\x00ff"),
        (
            PgType::Uuid,
            "a0eebc999c0b4ef8bb6d6bb9bd380a11",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        ),
        (PgType::Date, "00000000", "2000-01-01"),
        (PgType::Date, "7fffffff", "infinity"),
        (PgType::Date, "80000000", "-infinity"),
        (PgType::Date, "ffda97a7", "4714-11-24 BC"),
        (
            PgType::Time { precision: None },
            "0000000a0eef8090",
            "12:00:00.25",
        ),
        (TS, "0000000000000000", "2000-01-01 00:00:00"),
        (TS, "7fffffffffffffff", "infinity"),
        (TSTZ, "8000000000000000", "-infinity"),
        (TSTZ, "ff1af9deec5b2000", "0044-03-15 00:00:00+00 BC"),
    ];
    for (ty, bytes, text) in cases {
        let raw = unhex(bytes);
        let v = decode(&ty, &raw).unwrap_or_else(|e| panic!("decode {ty:?} {bytes}: {e}"));
        assert_eq!(
            v.as_text().as_deref(),
            Some(text),
            "as_text of {ty:?} {bytes}"
        );
        assert_eq!(enc(&ty, &v), Ok(bytes.to_string()), "encode {ty:?} {text}");
        assert_eq!(
            enc(&ty, &Value::Raw(raw)),
            Ok(bytes.to_string()),
            "raw {ty:?} {text}"
        );
    }
}

#[test]
fn raw_types_pass_through_untouched() {
    let cases = [
        (PgType::Interval, "00000000000000010000000200000003"),
        (PgType::Money, "00000000000004d2"),
        (PgType::Inet, "02200004c0a80001"),
        (PgType::Macaddr, "08002b010203"),
        (
            PgType::Array(Box::new(PgType::Int4)),
            "000000000000000000000017",
        ),
        (
            PgType::Other {
                name: "point".into(),
            },
            "00",
        ),
    ];
    for (ty, bytes) in cases {
        let raw = unhex(bytes);
        let v = decode(&ty, &raw).unwrap();
        assert_eq!(v, Value::Raw(raw.clone()));
        assert_eq!(v.as_text(), None);
        assert_eq!(enc(&ty, &v), Ok(bytes.to_string()), "{ty:?}");
        assert!(enc(&ty, &Value::Int(1)).is_err(), "{ty:?} refuses a cast");
    }
    assert!(enc(&PgType::Interval, &Value::Raw(vec![0; 15])).is_err());
    // timetz(0): the time part rounds, the zone stays.
    let ty = PgType::TimeTz { precision: Some(0) };
    let raw = unhex("000000000007a120fffffe20");
    assert_eq!(
        enc(&ty, &Value::Raw(raw)),
        Ok("00000000000f4240fffffe20".into())
    );
}

#[test]
fn malformed_binary_is_an_error() {
    let cases: Vec<(PgType, &str)> = vec![
        (PgType::Int4, "000000"),
        (PgType::Int8, "00"),
        (PgType::Bool, ""),
        (PgType::Uuid, "00"),
        (PgType::Text, "ff"),
        (PgType::Jsonb, "027b7d"),
        (PgType::Jsonb, ""),
        (NUMERIC, "0001000000000000"),
    ];
    for (ty, bytes) in cases {
        assert!(decode(&ty, &unhex(bytes)).is_err(), "{ty:?} {bytes}");
    }
}

#[test]
fn casts_follow_postgres_typmods() {
    let n = |s: &str| Value::Numeric(s.into());
    let t = |s: &str| Value::Text(s.into());
    let vc = |n| PgType::Varchar { len: Some(n) };
    let bp = |n| PgType::Bpchar { len: Some(n) };
    let ts = |p| PgType::Timestamp { precision: Some(p) };
    // (target, value, Ok(bytes) | Err(())) — bytes from `select <value>::<target>` in binary.
    let cases: Vec<(PgType, Value, Result<&str, ()>)> = vec![
        (numeric(10, 2), Value::Int(5), Ok("00010000000000020005")),
        (numeric(10, 2), n("0.005"), Ok("0001ffff000000020064")),
        (numeric(10, 2), n("-0.005"), Ok("0001ffff400000020064")),
        (numeric(5, 2), n("999.995"), Err(())),
        (numeric(5, 2), n("999.994"), Ok("000200000000000203e726ac")),
        (numeric(5, 2), n("Infinity"), Err(())),
        (numeric(5, 2), n("NaN"), Ok("00000000c0000000")),
        (numeric(3, 0), Value::Int(1000), Err(())),
        (numeric(10, 2), t(" 1.5 "), Ok("000200000000000200011388")),
        (PgType::Int2, Value::Int(32768), Err(())),
        (PgType::Int2, Value::Int(-32768), Ok("8000")),
        (PgType::Int4, n("42.000"), Ok("0000002a")),
        (PgType::Int4, n("42.5"), Err(())),
        (PgType::Int8, t(" -7 "), Ok("fffffffffffffff9")),
        (PgType::Float8, Value::Int(3), Ok("4008000000000000")),
        (PgType::Float4, Value::Float(0.1), Ok("3dcccccd")),
        (PgType::Float4, Value::Float(1e300), Err(())),
        (PgType::Float8, n("1e400"), Err(())),
        (PgType::Float8, n("-Infinity"), Ok("fff0000000000000")),
        (vc(3), t("abc  "), Ok("616263")),
        (vc(3), t("abcd"), Err(())),
        (vc(5), Value::Int(-12), Ok("2d3132")),
        (bp(4), t("ab"), Ok("61622020")),
        (bp(2), t("abc"), Err(())),
        (bp(2), Value::Bool(true), Err(())),
        (PgType::Text, Value::Bool(false), Ok("66616c7365")),
        (PgType::Text, t("a\0b"), Err(())),
        (
            PgType::Uuid,
            t("{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}"),
            Ok("a0eebc999c0b4ef8bb6d6bb9bd380a11"),
        ),
        (PgType::Bool, t("yes"), Ok("01")),
        (PgType::Date, t("0044-03-15 BC"), Ok("fff49d7b")),
        (ts(3), Value::Timestamp(1_234_500), Ok("000000000012d838")),
        (ts(3), Value::Timestamp(-1_234_500), Ok("ffffffffffed27c8")),
        (ts(0), Value::Timestamp(i64::MAX), Ok("7fffffffffffffff")),
        (ts(0), Value::Date(1), Ok("000000141dd76000")),
        (TS, t("2000-01-01 00:00:01"), Ok("00000000000f4240")),
        (TSTZ, t("2000-01-01 01:00:00+01"), Ok("0000000000000000")),
        (TSTZ, Value::Timestamp(0), Err(())),
        (TS, Value::TimestampTz(0), Err(())),
        (TSTZ, Value::Date(0), Err(())),
        (
            PgType::Enum {
                name: "mood".into(),
                labels: vec![],
            },
            t("happy"),
            Ok("6861707079"),
        ),
        (
            PgType::Enum {
                name: "mood".into(),
                labels: vec![],
            },
            Value::Int(1),
            Err(()),
        ),
        (
            PgType::Jsonb,
            t("{\"b\":1, \"a\":[1e2]}"),
            Ok("017b2261223a205b3130305d2c202262223a20317d"),
        ),
        (PgType::Json, t("{\"b\":1 }"), Ok("7b2262223a31207d")),
        (PgType::Json, t("{\"b\":}"), Err(())),
    ];
    for (ty, v, want) in cases {
        let got = enc(&ty, &v);
        assert_eq!(
            got.clone().map_err(|_| ()),
            want.map(String::from),
            "{v:?} as {ty:?}: {got:?}"
        );
    }
    let long = Value::Text("x".repeat(70));
    assert_eq!(
        enc(&PgType::Name, &long),
        Ok("78".repeat(63)),
        "name truncates to 63 bytes"
    );
}

#[test]
fn null_is_not_encodable() {
    assert!(enc(&PgType::Int4, &Value::Null).is_err());
    assert_eq!(Value::Null.as_text(), None);
}

/// Sample values of every kind, for the can_cast consistency check.
fn samples() -> Vec<(PgType, Value)> {
    vec![
        (PgType::Bool, Value::Bool(true)),
        (PgType::Int2, Value::Int(1)),
        (PgType::Int4, Value::Int(1)),
        (PgType::Int8, Value::Int(1)),
        (PgType::Float4, Value::Float(1.0)),
        (PgType::Float8, Value::Float(1.0)),
        (NUMERIC, Value::Numeric("1".into())),
        (numeric(5, 2), Value::Numeric("1.00".into())),
        (PgType::Text, Value::Text("1".into())),
        (PgType::Varchar { len: Some(10) }, Value::Text("1".into())),
        (PgType::Bpchar { len: Some(1) }, Value::Text("1".into())),
        (PgType::Name, Value::Text("1".into())),
        (
            PgType::Enum {
                name: "e".into(),
                labels: vec![],
            },
            Value::Text("1".into()),
        ),
        (PgType::Json, Value::Text("1".into())),
        (PgType::Jsonb, Value::Text("1".into())),
        (PgType::Bytea, Value::Bytes(vec![1])),
        (PgType::Uuid, Value::Uuid([1; 16])),
        (PgType::Date, Value::Date(1)),
        (PgType::Time { precision: None }, Value::Time(1)),
        (TS, Value::Timestamp(1)),
        (
            PgType::Timestamp { precision: Some(0) },
            Value::Timestamp(0),
        ),
        (TSTZ, Value::TimestampTz(1)),
        (PgType::Interval, Value::Raw(vec![0; 16])),
        (PgType::Money, Value::Raw(vec![0; 8])),
        (PgType::TimeTz { precision: None }, Value::Raw(vec![0; 12])),
        (
            PgType::TimeTz { precision: Some(2) },
            Value::Raw(vec![0; 12]),
        ),
        (
            PgType::Array(Box::new(PgType::Int4)),
            Value::Raw(vec![0; 12]),
        ),
        (enum_array(&["a"]), Value::Raw(vec![0; 12])),
        (enum_array(&["a", "b"]), Value::Raw(vec![0; 12])),
    ]
}

fn enum_array(labels: &[&str]) -> PgType {
    PgType::Array(Box::new(PgType::Enum {
        name: "e".into(),
        labels: labels.iter().map(|l| l.to_string()).collect(),
    }))
}

/// A one-dimensional binary array of `labels` (`None`: a NULL element), as `array_send` sends it.
fn binary_array(labels: &[Option<&str>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(1i32.to_be_bytes());
    out.extend(i32::from(labels.contains(&None)).to_be_bytes());
    out.extend(16_876u32.to_be_bytes());
    out.extend((labels.len() as i32).to_be_bytes());
    out.extend(1i32.to_be_bytes());
    for l in labels {
        match l {
            Some(l) => {
                out.extend((l.len() as i32).to_be_bytes());
                out.extend(l.as_bytes());
            }
            None => out.extend((-1i32).to_be_bytes()),
        }
    }
    out
}

#[test]
fn each_label_of_an_enum_array_is_one_of_the_target_enum() {
    let ty = enum_array(&["sad", "ok", "happy"]);
    let good = binary_array(&[Some("sad"), None, Some("happy")]);
    assert_eq!(enc(&ty, &Value::Raw(good.clone())), Ok(hex(&good)));
    let bad = binary_array(&[Some("sad"), Some("ecstatic")]);
    assert_eq!(
        enc(&ty, &Value::Raw(bad.clone())),
        Err(ValueError(
            "invalid input value for enum e: \"ecstatic\"".into()
        ))
    );
    // Labels not known: anything goes, as for a scalar enum.
    assert!(enc(&enum_array(&[]), &Value::Raw(bad.clone())).is_ok());
    // Empty, and two-dimensional (2 × 2, one element refused).
    assert!(enc(&ty, &Value::Raw(vec![0; 12])).is_ok());
    let mut two = Vec::new();
    for x in [2i32, 0, 16_876, 2, 1, 2, 1] {
        two.extend(x.to_be_bytes());
    }
    for l in ["ok", "sad", "ok", "meh"] {
        two.extend((l.len() as i32).to_be_bytes());
        two.extend(l.as_bytes());
    }
    assert!(enc(&ty, &Value::Raw(two.clone()))
        .unwrap_err()
        .0
        .contains("\"meh\""));
    // Truncated or with trailing bytes: malformed, never a panic.
    for broken in [
        &bad[..bad.len() - 1],
        &bad[..10],
        &[bad.as_slice(), &[0]].concat(),
    ] {
        let err = enc(
            &enum_array(&["sad", "ecstatic"]),
            &Value::Raw(broken.to_vec()),
        );
        assert_eq!(
            err,
            Err(ValueError("invalid binary array of enum e".into()))
        );
    }
}

#[test]
fn can_cast_agrees_with_encode() {
    let samples = samples();
    for (from, v) in &samples {
        for (to, _) in &samples {
            let result = enc(to, v);
            let allowed = can_cast(from, to);
            if let Value::Raw(_) = v {
                // Raw bytes carry no type: only the same type (timetz: any precision) casts.
                // An enum array casts to an array of the same enum with other labels.
                let enum_array = |t: &PgType| matches!(t, PgType::Array(e) if matches!(**e, PgType::Enum { .. }));
                let same = from == to
                    || matches!((from, to), (PgType::TimeTz { .. }, PgType::TimeTz { .. }))
                    || (enum_array(from) && enum_array(to));
                assert_eq!(allowed, same, "can_cast({from:?}, {to:?})");
            } else {
                let refused = matches!(&result, Err(e) if e.0.starts_with("cannot cast"));
                assert_eq!(
                    allowed, !refused,
                    "can_cast({from:?}, {to:?}) vs encode: {result:?}"
                );
            }
        }
    }
    let widen = [
        (PgType::Int2, PgType::Int8),
        (PgType::Int4, NUMERIC),
        (numeric(5, 2), numeric(10, 4)),
    ];
    for (from, to) in widen {
        assert!(can_cast(&from, &to), "{from:?} → {to:?}");
    }
    let refused = [
        (TS, TSTZ),
        (TSTZ, TS),
        (PgType::Date, TSTZ),
        (PgType::Interval, PgType::Text),
    ];
    for (from, to) in refused {
        assert!(!can_cast(&from, &to), "{from:?} → {to:?}");
    }
}

#[test]
fn random_bytes_never_panic() {
    // A fuzz-style sweep: every type, random lengths and bytes; errors are fine, panics not.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let types: Vec<PgType> = samples().into_iter().map(|(ty, _)| ty).collect();
    for _ in 0..20_000 {
        let ty = &types[next() as usize % types.len()];
        let len = next() as usize % 24;
        let mut raw: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if matches!(ty, PgType::Numeric { .. }) && len >= 8 {
            // Mostly-valid numerics: a digit count matching the length, small digits.
            let ndigits = ((len - 8) / 2) as u16;
            raw[..2].copy_from_slice(&ndigits.to_be_bytes());
            raw.truncate(8 + 2 * usize::from(ndigits));
            raw[6] &= 0x3F;
        }
        if let Ok(v) = decode(ty, &raw) {
            let _ = v.as_text();
            for (to, _) in samples() {
                let _ = encode(&to, &v, &mut Vec::new());
            }
        }
    }
}

#[test]
fn decode_reusing_gives_what_decode_gives_and_reuses_the_spare_string() {
    let types = [
        PgType::Text,
        PgType::Varchar { len: Some(3) },
        PgType::Bpchar { len: Some(4) },
        PgType::Name,
        PgType::Json,
        PgType::Int4,
        PgType::Date,
    ];
    let mut spare = String::with_capacity(64);
    for ty in &types {
        for raw in [
            &b"abc "[..],
            &[0, 0, 0, 7][..],
            &[0xff, 0x41, 0x42, 0x43][..],
        ] {
            let want = decode(ty, raw);
            let got = decode_reusing(ty, raw, &mut spare);
            assert_eq!(got, want, "{ty:?} {raw:?}");
            if let Ok(Value::Text(t)) = got {
                assert!(t.capacity() >= 64, "the spare string was reused");
                spare = t;
            }
        }
    }
}

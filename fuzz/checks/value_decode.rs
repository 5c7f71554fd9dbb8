//! `value::decode` on arbitrary bytes for every PgType: never a panic. A decoded value is also
//! printed (`as_text`) and encoded into every type (the casts); and the canonical bytes of its
//! own type are a fixed point (decode → encode gives them back).
//!
//! Input: `[type index, bytes…]`; seeds in `fuzz/seeds/value_decode` are values of each type as
//! PostgreSQL's send functions wrote them.
//!
//! Shared by the cargo-fuzz target `fuzz/fuzz_targets/value_decode.rs` and the short mutation run
//! of the test suite (`tests/fuzz_smoke.rs`).

use std::sync::OnceLock;

use cutover_core::pgtype::PgType;
use cutover_core::value::{decode, encode};

/// Every PgType variant, with and without typmods; the seeds index into this list.
fn types() -> &'static [PgType] {
    static TYPES: OnceLock<Vec<PgType>> = OnceLock::new();
    TYPES.get_or_init(|| {
        let named = |name: &str| name.to_string();
        vec![
            PgType::Bool,
            PgType::Int2,
            PgType::Int4,
            PgType::Int8,
            PgType::Float4,
            PgType::Float8,
            PgType::Numeric {
                precision: None,
                scale: None,
            },
            PgType::Numeric {
                precision: Some(10),
                scale: Some(2),
            },
            PgType::Numeric {
                precision: Some(3),
                scale: Some(0),
            },
            PgType::Money,
            PgType::Text,
            PgType::Varchar { len: None },
            PgType::Varchar { len: Some(5) },
            PgType::Bpchar { len: Some(3) },
            PgType::Name,
            PgType::Bytea,
            PgType::Uuid,
            PgType::Date,
            PgType::Time { precision: None },
            PgType::Time { precision: Some(2) },
            PgType::TimeTz { precision: None },
            PgType::Timestamp { precision: None },
            PgType::Timestamp { precision: Some(0) },
            PgType::Timestamptz { precision: None },
            PgType::Timestamptz { precision: Some(3) },
            PgType::Interval,
            PgType::Json,
            PgType::Jsonb,
            PgType::Inet,
            PgType::Cidr,
            PgType::Macaddr,
            PgType::Enum {
                name: named("mood"),
                labels: vec![],
            },
            PgType::Array(Box::new(PgType::Int4)),
            PgType::Other {
                name: named("tsvector"),
            },
        ]
    })
}

/// The target: one input, no panic, no hang.
pub fn check(data: &[u8]) {
    let Some((&which, raw)) = data.split_first() else {
        return;
    };
    let types = types();
    let ty = &types[usize::from(which) % types.len()];
    let Ok(value) = decode(ty, raw) else {
        return;
    };
    let _ = value.as_text();
    let mut buf = Vec::new();
    for to in types {
        buf.clear();
        let _ = encode(to, &value, &mut buf);
    }
    buf.clear();
    if encode(ty, &value, &mut buf).is_ok() {
        let again = decode(ty, &buf).expect("canonical bytes decode");
        let mut twice = Vec::new();
        encode(ty, &again, &mut twice).expect("canonical value encodes");
        assert_eq!(
            buf, twice,
            "canonical bytes of {ty:?} are not a fixed point"
        );
    }
}

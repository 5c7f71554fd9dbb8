//! What the types of a column allow: casts that keep the bytes, and values with a text form.
use crate::pgtype::PgType;

/// True when every value of type `from` is stored in `to` with the very same binary bytes (a
/// cast that changes nothing), so the column can pass through untouched: equal types, and
/// widenings that keep the bytes (`varchar(n)` → `text`, `numeric(p,s)` → `numeric`,
/// `timestamp(3)` → `timestamp`, an enum label → `text`).
pub(super) fn same_bytes(from: &PgType, to: &PgType) -> bool {
    use PgType as P;
    /// A precision typmod `b` holds every value of precision `a` (`None` = the maximum).
    fn wider(a: &Option<u8>, b: &Option<u8>) -> bool {
        match (a, b) {
            (_, None) => true,
            (Some(a), Some(b)) => a <= b,
            (None, Some(_)) => false,
        }
    }
    match (from, to) {
        _ if from == to => true,
        // Every label of the source's enum is one of the target's (labels not known: by name).
        (
            P::Enum {
                name: a,
                labels: la,
            },
            P::Enum {
                name: b,
                labels: lb,
            },
        ) => a == b && (la.is_empty() || lb.is_empty() || la.iter().all(|l| lb.contains(l))),
        // Arrays pass through as bytes, never cast; an enum's when the target's enum has
        // every label of the source's (else each element's label is checked).
        (P::Array(a), P::Array(b)) => {
            matches!((a.as_ref(), b.as_ref()), (P::Enum { .. }, P::Enum { .. })) && same_bytes(a, b)
        }
        (P::Text | P::Varchar { .. } | P::Enum { .. }, P::Text | P::Varchar { len: None }) => true,
        (P::Varchar { len: Some(a) }, P::Varchar { len: Some(b) }) => a <= b,
        (
            P::Numeric { .. },
            P::Numeric {
                precision: None,
                scale: None,
            },
        ) => true,
        (
            P::Numeric {
                precision: Some(p1),
                scale: s1,
            },
            P::Numeric {
                precision: Some(p2),
                scale: s2,
            },
        ) => s1 == s2 && p1 <= p2,
        (P::Timestamp { precision: a }, P::Timestamp { precision: b })
        | (P::Timestamptz { precision: a }, P::Timestamptz { precision: b })
        | (P::Time { precision: a }, P::Time { precision: b }) => wider(a, b),
        _ => false,
    }
}

/// Types whose decoded values have a text form (`Value::as_text`) for `map`, `concat` and
/// `uuid`: all but those passed through as raw bytes.
pub(super) fn has_text(ty: &PgType) -> bool {
    !matches!(
        ty,
        PgType::Money
            | PgType::TimeTz { .. }
            | PgType::Interval
            | PgType::Inet
            | PgType::Cidr
            | PgType::Macaddr
            | PgType::Array(_)
            | PgType::Other { .. }
    )
}

/// SQL name of a type a value can have between transforms.
pub(super) fn type_name(ty: &PgType) -> String {
    match ty {
        PgType::Text => "text".into(),
        PgType::Int8 => "bigint".into(),
        PgType::Float8 => "double precision".into(),
        PgType::Bool => "boolean".into(),
        PgType::Uuid => "uuid".into(),
        PgType::Numeric { scale: Some(s), .. } => format!("numeric with scale {s}"),
        PgType::Numeric { .. } => "numeric".into(),
        PgType::Timestamptz { .. } => "timestamp with time zone".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_bytes_only_for_casts_that_change_nothing() {
        let vc = |n| PgType::Varchar { len: n };
        let num = |p, s| PgType::Numeric {
            precision: p,
            scale: s,
        };
        let ts = |p| PgType::Timestamp { precision: p };
        let enm = |l: &[&str]| PgType::Enum {
            name: "s".into(),
            labels: l.iter().map(|x| x.to_string()).collect(),
        };
        let arr = |e: PgType| PgType::Array(Box::new(e));
        let cases = [
            (PgType::Int4, PgType::Int4, true),
            (vc(Some(10)), PgType::Text, true),
            (PgType::Text, vc(None), true),
            (vc(Some(10)), vc(Some(20)), true),
            (
                PgType::Enum {
                    name: "s".into(),
                    labels: vec![],
                },
                PgType::Text,
                true,
            ),
            (num(Some(12), Some(2)), num(None, None), true),
            (num(Some(12), Some(2)), num(Some(14), Some(2)), true),
            (ts(Some(3)), ts(None), true),
            (ts(Some(3)), ts(Some(6)), true),
            // Each of these may change or refuse a value.
            (vc(Some(20)), vc(Some(10)), false),
            (PgType::Text, vc(Some(10)), false),
            (PgType::Text, PgType::Bpchar { len: Some(3) }, false),
            (PgType::Bpchar { len: Some(3) }, PgType::Text, false),
            (
                PgType::Text,
                PgType::Enum {
                    name: "s".into(),
                    labels: vec![],
                },
                false,
            ),
            (enm(&["a", "b"]), enm(&["a", "b", "c"]), true),
            (enm(&["a", "b", "c"]), enm(&["a", "b"]), false),
            (arr(enm(&["a", "b"])), arr(enm(&["a", "b", "c"])), true),
            (arr(enm(&["a", "b", "c"])), arr(enm(&["a", "b"])), false),
            (PgType::Int4, PgType::Int8, false),
            (num(Some(12), Some(2)), num(Some(12), Some(3)), false),
            (num(None, None), num(Some(12), Some(2)), false),
            (ts(None), ts(Some(3)), false),
            (ts(None), PgType::Timestamptz { precision: None }, false),
            (PgType::Jsonb, PgType::Text, false),
        ];
        for (from, to, want) in cases {
            assert_eq!(same_bytes(&from, &to), want, "{from:?} → {to:?}");
        }
    }
}

//! PostgreSQL types as `cutover` understands them: enough to decode, cast and re-encode values of
//! every built-in type, and to pass anything else through as untouched bytes.
use serde::{Deserialize, Serialize};

/// A column type with its typmod already decoded. Built from the catalog by
/// [`PgType::from_catalog`]; user-defined types are named, never identified by OID (OIDs differ
/// between the source and the target database).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PgType {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    /// `numeric(precision, scale)`; both `None` for unconstrained numeric.
    Numeric {
        precision: Option<u16>,
        scale: Option<u16>,
    },
    Money,
    Text,
    /// `varchar(len)`; length in characters.
    Varchar {
        len: Option<u32>,
    },
    /// `char(len)`; values are blank-padded to `len` characters.
    Bpchar {
        len: Option<u32>,
    },
    Name,
    Bytea,
    Uuid,
    Date,
    /// `time(precision)`.
    Time {
        precision: Option<u8>,
    },
    TimeTz {
        precision: Option<u8>,
    },
    /// `timestamp(precision) without time zone`.
    Timestamp {
        precision: Option<u8>,
    },
    Timestamptz {
        precision: Option<u8>,
    },
    Interval,
    Json,
    Jsonb,
    Inet,
    Cidr,
    Macaddr,
    /// A user-defined enum, by type name (binary form is the label text), with its labels
    /// when read from the catalog (empty: not known, any label goes): a label the type lacks
    /// fails the value, where `COPY` would fail the whole load.
    Enum {
        name: String,
        #[serde(skip)]
        labels: Vec<String>,
    },
    /// An array of the element type.
    Array(Box<PgType>),
    /// Anything else: passed through as raw bytes, never cast.
    Other {
        name: String,
    },
}

impl PgType {
    /// Builds a type from catalog facts.
    ///
    /// - `typname`: `pg_type.typname` of the column's type, after resolving domains to their base
    ///   type (e.g. `int4`, `varchar`, `_text` for `text[]`, `my_enum`).
    /// - `typtype`: `pg_type.typtype` (`b` base, `e` enum, `c` composite, `d` domain, …).
    /// - `typmod`: `pg_attribute.atttypmod` (-1 when none).
    /// - `elem`: for arrays, the element type (already built); `None` otherwise.
    pub fn from_catalog(typname: &str, typtype: char, typmod: i32, elem: Option<PgType>) -> PgType {
        if let Some(elem) = elem {
            return PgType::Array(Box::new(elem));
        }
        if typtype == 'e' {
            return PgType::Enum {
                name: typname.to_string(),
                labels: Vec::new(),
            };
        }
        let tm = if typmod >= 0 { Some(typmod) } else { None };
        let ts_prec = |tm: Option<i32>| tm.map(|m| m as u8);
        match typname {
            "bool" => PgType::Bool,
            "int2" => PgType::Int2,
            "int4" => PgType::Int4,
            "int8" => PgType::Int8,
            "float4" => PgType::Float4,
            "float8" => PgType::Float8,
            "numeric" => match tm {
                Some(m) if m >= 4 => {
                    let m = m - 4;
                    PgType::Numeric {
                        precision: Some(((m >> 16) & 0xffff) as u16),
                        scale: Some((m & 0xffff) as u16),
                    }
                }
                _ => PgType::Numeric {
                    precision: None,
                    scale: None,
                },
            },
            "money" => PgType::Money,
            "text" => PgType::Text,
            "varchar" => PgType::Varchar {
                len: tm.filter(|m| *m >= 4).map(|m| (m - 4) as u32),
            },
            "bpchar" => PgType::Bpchar {
                len: tm.filter(|m| *m >= 4).map(|m| (m - 4) as u32),
            },
            "name" => PgType::Name,
            "bytea" => PgType::Bytea,
            "uuid" => PgType::Uuid,
            "date" => PgType::Date,
            "time" => PgType::Time {
                precision: ts_prec(tm),
            },
            "timetz" => PgType::TimeTz {
                precision: ts_prec(tm),
            },
            "timestamp" => PgType::Timestamp {
                precision: ts_prec(tm),
            },
            "timestamptz" => PgType::Timestamptz {
                precision: ts_prec(tm),
            },
            "interval" => PgType::Interval,
            "json" => PgType::Json,
            "jsonb" => PgType::Jsonb,
            "inet" => PgType::Inet,
            "cidr" => PgType::Cidr,
            "macaddr" => PgType::Macaddr,
            other => PgType::Other {
                name: other.to_string(),
            },
        }
    }

    /// True for the text-like types (text, varchar, char, name, enum labels).
    pub fn is_textual(&self) -> bool {
        matches!(
            self,
            PgType::Text
                | PgType::Varchar { .. }
                | PgType::Bpchar { .. }
                | PgType::Name
                | PgType::Enum { .. }
        )
    }

    /// True for int2/int4/int8.
    pub fn is_integer(&self) -> bool {
        matches!(self, PgType::Int2 | PgType::Int4 | PgType::Int8)
    }
}

//! Batches of rows: an Arrow `RecordBatch` whose columns are all nullable `Binary`, each value
//! holding the exact PostgreSQL binary (`typsend`) bytes of one field. Type information travels
//! beside the batch (in [`crate::catalog::ColumnInfo`]), never inside it, so a value that needs no
//! transform passes from source to target as untouched bytes.
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};

/// The Arrow schema of a batch with these column names: every field nullable `Binary`.
pub fn binary_schema<S: AsRef<str>>(names: &[S]) -> SchemaRef {
    Arc::new(Schema::new(
        names
            .iter()
            .map(|n| Field::new(n.as_ref(), DataType::Binary, true))
            .collect::<Vec<_>>(),
    ))
}

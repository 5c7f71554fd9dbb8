//! A table's mapping compiled against both catalogs: which source columns to read, and how each
//! target column is computed from a source batch.

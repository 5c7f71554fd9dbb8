//! The mapping file: TOML, parsed strictly (see docs/mapping.md).

//! Inputs of the micro-benchmarks: the rows of `contacts.sql` (the benchmark table of
//! `../shared/BENCHMARKS.md`, copied to `benches/e2e/contacts.sql`) built in process, as Arrow
//! batches of raw binary values and as a binary COPY stream, and the mapping programs run on them.
pub mod contacts;
pub mod programs;

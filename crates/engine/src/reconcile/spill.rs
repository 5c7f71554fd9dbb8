//! Per-row records of one side of a table, spilled to disk while the side streams, partitioned
//! by bucket so that, once the leaves say which buckets differ, only those partitions are read
//! back (and only the records of those buckets are kept in memory). Neither side is read from
//! the database a second time.
//!
//! Record: fine bucket (u16 LE) ‖ the row digest's first 16 bytes ‖ key length (u32 LE) ‖ key
//! bytes ‖ one 32-bit hash per digest column (LE). Rows are matched by key, so 128 bits of
//! digest tell a changed row from an equal one as surely as 256 (the leaves and roots keep all
//! 256); the column hashes only name which columns of a row known to differ changed (a changed
//! column goes unnamed with odds of 2^-32). Small records are most of the spill's cost.
use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use cutover_core::digest::split_values;

use crate::error::{EngineError, Result};

/// Partitions per side: the fine bucket's top bits choose one.
const PARTITIONS: usize = 16;
const PARTITION_SHIFT: u32 = 12; // 2^16 fine buckets / 16 partitions

/// One spilled row.
#[derive(Clone, Debug)]
pub struct Record {
    pub bucket: u32,
    /// The row digest's first [`DIGEST_BYTES`] bytes.
    pub digest: [u8; DIGEST_BYTES],
    pub key: Vec<u8>,
    pub columns: Vec<u32>,
}

/// Bytes of the row digest kept in a record.
pub const DIGEST_BYTES: usize = 16;

/// Bytes a partition gathers before they are written to its file.
const WRITE_BUFFER: usize = 64 << 10;

/// Writes the records of one side of one table.
pub struct SpillWriter {
    dir: PathBuf,
    ncols: usize,
    /// Each partition's file (created with its first write) and the records not yet in it.
    parts: Vec<(Option<File>, Vec<u8>)>,
}

fn io_err(path: &Path, e: std::io::Error) -> EngineError {
    EngineError::runtime(format!("spill file {}: {e}", path.display()))
}

impl SpillWriter {
    /// A writer into `dir` (created if missing) for rows of `ncols` digest columns.
    pub fn new(dir: PathBuf, ncols: usize) -> Result<Self> {
        std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        Ok(SpillWriter {
            dir,
            ncols,
            parts: (0..PARTITIONS).map(|_| (None, Vec::new())).collect(),
        })
    }

    fn path(dir: &Path, p: usize) -> PathBuf {
        dir.join(format!("p{p:02}.bin"))
    }

    /// Appends one row: its fine bucket, digest, key bytes and canonical row bytes.
    pub fn add(&mut self, bucket: u32, digest: &[u8; 32], key: &[u8], row: &[u8]) -> Result<()> {
        let p = (bucket >> PARTITION_SHIFT) as usize % PARTITIONS;
        let buf = &mut self.parts[p].1;
        let start = buf.len();
        buf.reserve(2 + DIGEST_BYTES + 4 + key.len() + 4 * self.ncols);
        let mut head = [0u8; 2 + DIGEST_BYTES + 4];
        head[..2].copy_from_slice(&(bucket as u16).to_le_bytes());
        head[2..2 + DIGEST_BYTES].copy_from_slice(&digest[..DIGEST_BYTES]);
        head[2 + DIGEST_BYTES..].copy_from_slice(&(key.len() as u32).to_le_bytes());
        buf.extend_from_slice(&head);
        buf.extend_from_slice(key);
        let mut n = 0;
        for_each_encoded(row, |enc| {
            buf.extend_from_slice(&hash32(enc).to_le_bytes());
            n += 1;
        });
        if n != self.ncols {
            buf.truncate(start);
            return Err(EngineError::runtime(format!(
                "internal: a row of {n} columns where {} were expected",
                self.ncols
            )));
        }
        if buf.len() >= WRITE_BUFFER {
            self.write_out(p)?;
        }
        Ok(())
    }

    /// Writes partition `p`'s gathered records to its file (created on the first write).
    fn write_out(&mut self, p: usize) -> Result<()> {
        let path = Self::path(&self.dir, p);
        let (file, buf) = &mut self.parts[p];
        if file.is_none() {
            *file = Some(File::create(&path).map_err(|e| io_err(&path, e))?);
        }
        file.as_mut()
            .expect("created above")
            .write_all(buf)
            .map_err(|e| io_err(&path, e))?;
        buf.clear();
        Ok(())
    }

    /// Writes every partition's last records; they can then be read back.
    pub fn finish(mut self) -> Result<SpillFiles> {
        for p in 0..PARTITIONS {
            if !self.parts[p].1.is_empty() {
                self.write_out(p)?;
            }
        }
        Ok(SpillFiles {
            dir: self.dir,
            ncols: self.ncols,
        })
    }
}

/// The finished records of one side.
pub struct SpillFiles {
    dir: PathBuf,
    ncols: usize,
}

impl SpillFiles {
    /// The partition holding a fine bucket.
    pub fn partition_of(bucket: u32) -> usize {
        (bucket >> PARTITION_SHIFT) as usize % PARTITIONS
    }

    /// Reads the records of partition `p` whose bucket is in `wanted`.
    pub fn read(&self, p: usize, wanted: &HashSet<u32>) -> Result<Vec<Record>> {
        let path = SpillWriter::path(&self.dir, p);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&path, e)),
        };
        let mut r = BufReader::with_capacity(64 << 10, file);
        let mut out = Vec::new();
        let mut head = [0u8; 2 + DIGEST_BYTES + 4];
        loop {
            match r.read_exact(&mut head) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(io_err(&path, e)),
            }
            let bucket = u16::from_le_bytes([head[0], head[1]]) as u32;
            let mut digest = [0u8; DIGEST_BYTES];
            digest.copy_from_slice(&head[2..2 + DIGEST_BYTES]);
            let l = &head[2 + DIGEST_BYTES..];
            let klen = u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize;
            let mut key = vec![0u8; klen];
            r.read_exact(&mut key).map_err(|e| io_err(&path, e))?;
            let mut cols = vec![0u8; 4 * self.ncols];
            r.read_exact(&mut cols).map_err(|e| io_err(&path, e))?;
            if wanted.contains(&bucket) {
                out.push(Record {
                    bucket,
                    digest,
                    key,
                    columns: cols
                        .chunks_exact(4)
                        .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
                        .collect(),
                });
            }
        }
        Ok(out)
    }
}

/// Calls `f` with each value's whole canonical encoding (tag, length and bytes).
fn for_each_encoded(mut row: &[u8], mut f: impl FnMut(&[u8])) {
    while let Some(&tag) = row.first() {
        let len = if tag == 0 || row.len() < 5 {
            1
        } else {
            5 + u32::from_be_bytes([row[1], row[2], row[3], row[4]]) as usize
        };
        let len = len.min(row.len());
        f(&row[..len]);
        row = &row[len..];
    }
}

/// A fast 32-bit hash of a value's encoding, only used to name which columns of a row already
/// known to differ (by its digest) are different; both sides' records are hashed by this
/// function in the same run, so it may change between versions. The top half of the last
/// product: its best-mixed bits.
pub fn hash32(bytes: &[u8]) -> u32 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = (bytes.len() as u64).wrapping_mul(K);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let v = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        h = (h ^ v).wrapping_mul(K).rotate_left(29);
    }
    h = (h ^ tail_word(bytes, chunks.remainder().len())).wrapping_mul(K);
    ((h ^ (h >> 32)).wrapping_mul(0xD6E8_FEB8_6659_FD93) >> 32) as u32
}

/// The last `r` (< 8) bytes of `bytes` as a little-endian word, zero above: read with one
/// overlapping load when the value is long enough. (Copying them into a zeroed array and
/// loading that stalled on store forwarding: half of the spill's time.)
#[inline]
fn tail_word(bytes: &[u8], r: usize) -> u64 {
    match r {
        0 => 0,
        _ if bytes.len() >= 8 => {
            let last: [u8; 8] = bytes[bytes.len() - 8..].try_into().expect("8 bytes");
            u64::from_le_bytes(last) >> (8 * (8 - r))
        }
        _ => bytes[bytes.len() - r..]
            .iter()
            .rev()
            .fold(0, |acc, &b| (acc << 8) | u64::from(b)),
    }
}

/// Splits key bytes into values (for naming a row), `None` when malformed.
pub fn key_values(key: &[u8]) -> Option<Vec<Option<&[u8]>>> {
    split_values(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_core::digest::put_value;

    #[test]
    fn records_come_back_only_for_wanted_buckets() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SpillWriter::new(dir.path().join("s"), 2).unwrap();
        let mut row = Vec::new();
        put_value(&mut row, Some(b"a"));
        put_value(&mut row, None);
        let mut key = Vec::new();
        put_value(&mut key, Some(b"k"));
        w.add(5, &[1; 32], &key, &row).unwrap();
        w.add(5000, &[2; 32], &key, &row).unwrap();
        w.add(6, &[3; 32], &key, &row).unwrap();
        let f = w.finish().unwrap();
        let got = f
            .read(SpillFiles::partition_of(5), &HashSet::from([6]))
            .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].digest, [3; DIGEST_BYTES]);
        assert_eq!(got[0].key, key);
        assert_eq!(got[0].columns.len(), 2);
        assert_ne!(got[0].columns[0], got[0].columns[1]);
    }

    #[test]
    fn the_tail_word_is_the_zero_padded_little_endian_rest() {
        let bytes: Vec<u8> = (1..=40u32).map(|i| (i * 37 % 251) as u8).collect();
        for len in 0..=bytes.len() {
            let v = &bytes[..len];
            let r = len % 8;
            let mut padded = [0u8; 8];
            padded[..r].copy_from_slice(&v[len - r..]);
            assert_eq!(tail_word(v, r), u64::from_le_bytes(padded), "length {len}");
        }
    }

    #[test]
    fn hash32_tells_null_from_empty_and_neighbours_apart() {
        let mut a = Vec::new();
        put_value(&mut a, None);
        let mut b = Vec::new();
        put_value(&mut b, Some(b""));
        assert_ne!(hash32(&a), hash32(&b));
        assert_ne!(hash32(b"abcdefgh1"), hash32(b"abcdefgh2"));
    }
}

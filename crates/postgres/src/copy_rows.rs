//! Splitting a `COPY … TO STDOUT (FORMAT binary)` stream into whole rows, each handed out as
//! its field slices straight from the received bytes: the path for columns read as they are
//! (no transform), where building Arrow columns only to read them back would be a copy too many.
//!
//! A row split across chunks is staged (only that row) and completed from the next chunk; every
//! other row is read in place. The same checks and errors as [`crate::copy_decode`]: malformed
//! input is an error naming the row, column and byte offset, never a panic, and after an error
//! the splitter refuses further input.
use crate::copy_decode::{stage_header, CopyError};

/// One row: its fields, each `None` for NULL or the value's raw `typsend` bytes.
pub struct Row<'a> {
    bytes: &'a [u8],
    /// Per field: start of the value in `bytes` and its length (-1 for NULL).
    fields: &'a [(usize, i32)],
}

impl<'a> Row<'a> {
    /// Field `i`'s value, `None` for NULL.
    ///
    /// # Panics
    /// When `i` is out of range.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        let (start, len) = self.fields[i];
        usize::try_from(len)
            .ok()
            .map(|len| &self.bytes[start..start + len])
    }

    /// The row's whole binary COPY encoding (field count, then each length word and value),
    /// ready to be written to a `COPY … FROM STDIN (FORMAT binary)` as it is.
    pub fn raw(&self) -> &'a [u8] {
        self.bytes
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True for a row without fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading the header (staged in `pending`).
    Header,
    /// Skipping this many header-extension bytes.
    Extension(u64),
    /// Reading rows.
    Rows,
    /// The trailer was read.
    Done,
}

/// How far a row at the start of a buffer could be read.
enum Parse {
    /// The whole row is there, this many bytes.
    Row(usize),
    /// The trailer (-1), two bytes.
    Trailer,
    /// More bytes are needed: the buffer must hold at least this many before trying again.
    Need(usize),
}

/// Streaming splitter of binary COPY output into rows.
pub struct CopyRows {
    names: Vec<String>,
    state: State,
    /// The header, or a row split across chunks, as far as it has arrived.
    pending: Vec<u8>,
    fields: Vec<(usize, i32)>,
    rows: u64,
    /// Stream bytes before the current chunk.
    offset: u64,
    failed: bool,
}

impl CopyRows {
    /// A splitter for rows of the named columns (the names appear in errors).
    pub fn new(names: &[String]) -> Self {
        CopyRows {
            names: names.to_vec(),
            state: State::Header,
            pending: Vec::new(),
            fields: Vec::with_capacity(names.len()),
            rows: 0,
            offset: 0,
            failed: false,
        }
    }

    /// Feeds the next chunk of the stream (chunks split rows and even the header anywhere);
    /// `f` is called with each row completed by it, in stream order.
    pub fn feed(&mut self, data: &[u8], mut f: impl FnMut(&Row<'_>)) -> Result<(), CopyError> {
        if self.failed {
            return Err(CopyError::Poisoned);
        }
        let result = self.feed_inner(data, &mut f);
        self.offset += data.len() as u64;
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    /// End of stream: checks the trailer (-1) was seen.
    pub fn finish(self) -> Result<u64, CopyError> {
        if self.failed {
            return Err(CopyError::Poisoned);
        }
        let at = match self.state {
            State::Done => return Ok(self.rows),
            State::Header | State::Extension(_) => "inside the header".to_string(),
            State::Rows if self.pending.is_empty() => format!("after row {}", self.rows),
            State::Rows => format!("inside row {}", self.rows + 1),
        };
        Err(CopyError::Truncated {
            offset: self.offset,
            at,
        })
    }

    fn feed_inner(&mut self, data: &[u8], f: &mut impl FnMut(&Row<'_>)) -> Result<(), CopyError> {
        let mut pos = 0;
        while pos < data.len() {
            match self.state {
                State::Header => pos = self.read_header(data, pos)?,
                State::Extension(left) => {
                    let skip = left.min((data.len() - pos) as u64);
                    pos += skip as usize;
                    self.state = if skip == left {
                        State::Rows
                    } else {
                        State::Extension(left - skip)
                    };
                }
                State::Rows if !self.pending.is_empty() => pos = self.complete(data, pos, f)?,
                State::Rows => {
                    let start = self.offset + pos as u64;
                    match self.parse(&data[pos..], start)? {
                        Parse::Row(n) => {
                            self.rows += 1;
                            f(&Row {
                                bytes: &data[pos..pos + n],
                                fields: &self.fields,
                            });
                            pos += n;
                        }
                        Parse::Trailer => {
                            self.state = State::Done;
                            pos += 2;
                        }
                        Parse::Need(_) => {
                            self.pending.extend_from_slice(&data[pos..]);
                            pos = data.len();
                        }
                    }
                }
                State::Done => {
                    return Err(CopyError::AfterTrailer {
                        offset: self.offset + pos as u64,
                    })
                }
            }
        }
        Ok(())
    }

    /// Completes the staged row from `data[pos..]`, taking only the bytes it needs.
    fn complete(
        &mut self,
        data: &[u8],
        mut pos: usize,
        f: &mut impl FnMut(&Row<'_>),
    ) -> Result<usize, CopyError> {
        let start = self.offset + pos as u64 - self.pending.len() as u64;
        loop {
            let pending = std::mem::take(&mut self.pending);
            let parsed = self.parse(&pending, start);
            self.pending = pending;
            match parsed? {
                Parse::Row(n) => {
                    debug_assert_eq!(n, self.pending.len());
                    self.rows += 1;
                    f(&Row {
                        bytes: &self.pending,
                        fields: &self.fields,
                    });
                    self.pending.clear();
                    return Ok(pos);
                }
                Parse::Trailer => {
                    self.pending.clear();
                    self.state = State::Done;
                    return Ok(pos);
                }
                Parse::Need(n) => {
                    let take = (n - self.pending.len()).min(data.len() - pos);
                    self.pending.extend_from_slice(&data[pos..pos + take]);
                    pos += take;
                    if pos == data.len() && self.pending.len() < n {
                        return Ok(pos);
                    }
                }
            }
        }
    }

    /// Reads the row (or trailer) at the start of `buf`; `start` is its stream offset.
    #[inline]
    fn parse(&mut self, buf: &[u8], start: u64) -> Result<Parse, CopyError> {
        let Some(w) = buf.get(..2) else {
            return Ok(Parse::Need(2));
        };
        let count = i16::from_be_bytes([w[0], w[1]]);
        if count == -1 {
            return Ok(Parse::Trailer);
        }
        if usize::try_from(count).ok() != Some(self.names.len()) {
            return Err(CopyError::FieldCount {
                row: self.rows + 1,
                offset: start,
                expected: self.names.len(),
                actual: count,
            });
        }
        self.fields.clear();
        let mut at = 2usize;
        for i in 0..self.names.len() {
            let Some(w) = buf.get(at..at + 4) else {
                return Ok(Parse::Need(at + 4));
            };
            let len = i32::from_be_bytes([w[0], w[1], w[2], w[3]]);
            at += 4;
            if len == -1 {
                self.fields.push((at, -1));
                continue;
            }
            let Ok(n) = usize::try_from(len) else {
                return Err(CopyError::FieldLength {
                    row: self.rows + 1,
                    column: self.names[i].clone(),
                    offset: start + at as u64 - 4,
                    len,
                });
            };
            self.fields.push((at, len));
            at += n;
            if at > buf.len() {
                return Ok(Parse::Need(at));
            }
        }
        Ok(Parse::Row(at))
    }

    /// Consumes header bytes from `data[pos..]`, validating the signature as it arrives.
    fn read_header(&mut self, data: &[u8], pos: usize) -> Result<usize, CopyError> {
        let (end, ext) = stage_header(&mut self.pending, data, pos)?;
        if let Some(ext) = ext {
            self.pending.clear();
            self.state = match ext {
                0 => State::Rows,
                ext => State::Extension(u64::from(ext)),
            };
        }
        Ok(end)
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::copy_decode::test_stream as stream;

    type Values = Vec<Option<Vec<u8>>>;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("c{i}")).collect()
    }

    fn split(stream: &[u8], cuts: &[usize], ncols: usize) -> Result<Vec<Values>, CopyError> {
        let mut r = CopyRows::new(&names(ncols));
        let mut out = Vec::new();
        let mut last = 0;
        for &c in cuts.iter().chain(std::iter::once(&stream.len())) {
            r.feed(&stream[last..c], |row| {
                let values: Values = (0..row.len())
                    .map(|i| row.get(i).map(<[u8]>::to_vec))
                    .collect();
                let one = self::stream(std::slice::from_ref(&values));
                assert_eq!(row.raw(), &one[19..one.len() - 2], "raw bytes of a row");
                out.push(values)
            })?;
            last = c;
        }
        assert_eq!(r.finish()?, out.len() as u64);
        Ok(out)
    }

    fn random_rows(rng: &mut impl Rng, n: usize, ncols: usize) -> Vec<Values> {
        (0..n)
            .map(|_| {
                (0..ncols)
                    .map(|_| {
                        (!rng.gen_bool(0.2)).then(|| {
                            let len = rng.gen_range(0..40);
                            (0..len).map(|_| rng.gen()).collect()
                        })
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn rows_come_out_whole_wherever_the_chunks_are_cut() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for ncols in [0, 1, 3, 11] {
            let rows = random_rows(&mut rng, 60, ncols);
            let s = stream(&rows);
            // Every single cut point, then many random multi-cuts (down to 1-byte chunks).
            for c in 0..=s.len() {
                assert_eq!(split(&s, &[c], ncols).unwrap(), rows, "cut at {c}");
            }
            for _ in 0..50 {
                let mut cuts: Vec<usize> = (0..rng.gen_range(1..40))
                    .map(|_| rng.gen_range(0..=s.len()))
                    .collect();
                cuts.sort();
                assert_eq!(split(&s, &cuts, ncols).unwrap(), rows);
            }
            let bytewise: Vec<usize> = (1..s.len()).collect();
            assert_eq!(split(&s, &bytewise, ncols).unwrap(), rows);
        }
    }

    #[test]
    fn a_header_extension_is_skipped() {
        let rows = vec![vec![Some(b"x".to_vec()), None]];
        let mut s = stream(&rows);
        // Extension length 3, then 3 bytes, spliced in after the 19-byte header.
        s[15..19].copy_from_slice(&3u32.to_be_bytes());
        s.splice(19..19, [9, 9, 9]);
        for c in 0..=s.len() {
            assert_eq!(split(&s, &[c], 2).unwrap(), rows);
        }
    }

    #[test]
    fn malformed_streams_are_errors_that_say_where() {
        let rows = vec![vec![Some(b"ab".to_vec())], vec![Some(b"cd".to_vec())]];
        let good = stream(&rows);

        let mut bad = good.clone();
        bad[3] = b'X';
        assert!(matches!(
            split(&bad, &[], 1),
            Err(CopyError::BadSignature { offset: 3 })
        ));

        let mut flags = good.clone();
        flags[11] = 1;
        assert!(matches!(
            split(&flags, &[], 1),
            Err(CopyError::UnsupportedFlags { .. })
        ));

        // Second row claims 2 fields.
        let mut count = good.clone();
        count[19 + 8] = 0;
        count[19 + 8 + 1] = 2;
        let e = split(&count, &[], 1).unwrap_err();
        assert!(
            matches!(
                e,
                CopyError::FieldCount {
                    row: 2,
                    offset: 27,
                    expected: 1,
                    actual: 2
                }
            ),
            "{e:?}"
        );

        // First row's length word is -5.
        let mut len = good.clone();
        len[21..25].copy_from_slice(&(-5i32).to_be_bytes());
        let e = split(&len, &[22], 1).unwrap_err();
        assert!(
            matches!(&e, CopyError::FieldLength { row: 1, column, offset: 21, len: -5 } if column == "c0"),
            "{e:?}"
        );

        let truncated = &good[..good.len() - 3];
        let e = split(truncated, &[], 1).unwrap_err();
        assert!(matches!(e, CopyError::Truncated { .. }), "{e:?}");
        assert!(e.to_string().contains("inside row 2"), "{e}");

        let mut after = good.clone();
        after.push(0);
        assert!(matches!(
            split(&after, &[], 1),
            Err(CopyError::AfterTrailer { .. })
        ));
    }

    #[test]
    fn after_an_error_no_more_input_is_taken() {
        let mut r = CopyRows::new(&names(1));
        assert!(r.feed(b"NOTCOPY", |_| {}).is_err());
        assert!(matches!(r.feed(b"", |_| {}), Err(CopyError::Poisoned)));
        assert!(matches!(r.finish(), Err(CopyError::Poisoned)));
    }
}

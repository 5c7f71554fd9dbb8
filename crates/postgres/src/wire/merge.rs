//! The server's messages as tokio-postgres reads them, with CopyData messages that arrive
//! together merged into one.
//!
//! A `COPY … TO STDOUT` sends one CopyData message per row. tokio-postgres turns each message
//! into its own reference-counted buffer on its way to the reader: for a table of millions of
//! short rows that bookkeeping cost a sixth of the client's time. Every reader of a COPY stream
//! in this workspace treats it as one byte stream (rows are self-delimiting in the binary
//! format, lines in the text one), so a run of CopyData messages that are all in memory is
//! handed on as one message whose payload is theirs, concatenated in order. Every other
//! message, and a CopyData message longer than [`MERGE_MAX`], is passed on as it comes,
//! byte for byte.
//!
//! The rewrite happens in place: merging only removes headers, so the bytes handed on never
//! overtake the bytes still to be read.
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

/// Bytes read ahead at most.
const CAPACITY: usize = 256 << 10;
/// Longer CopyData messages are passed on unmerged (they are rows as large as that).
const MERGE_MAX: usize = CAPACITY / 2;
/// A backend message's header: its tag and its length (which counts itself, not the tag).
const HEADER: usize = 5;
const COPY_DATA: u8 = b'd';

/// A stream of backend messages (after the TLS handshake: every byte belongs to a message)
/// with its CopyData runs merged.
pub struct MergeCopyData<S> {
    inner: S,
    buf: Box<[u8]>,
    /// `buf[out_pos..out_end]`: rewritten bytes not yet handed on.
    out_pos: usize,
    out_end: usize,
    /// `buf[in_pos..in_end]`: bytes read but not yet rewritten (an incomplete message).
    in_pos: usize,
    in_end: usize,
    /// Bytes of the current message still to be passed on as they are (`usize::MAX`: all the
    /// rest of the stream, after a malformed header or at its end).
    verbatim: usize,
    eof: bool,
}

impl<S> MergeCopyData<S> {
    pub fn new(inner: S) -> Self {
        MergeCopyData {
            inner,
            buf: Vec::new().into_boxed_slice(),
            out_pos: 0,
            out_end: 0,
            in_pos: 0,
            in_end: 0,
            verbatim: 0,
            eof: false,
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Rewrites the complete messages (and verbatim bytes) read so far into the output;
    /// true when that produced any. Only called with no output pending.
    fn rewrite(&mut self) -> bool {
        let buf = &mut self.buf;
        let (mut r, mut w) = (self.in_pos, self.in_pos);
        // Where the open run's header is.
        let mut run: Option<usize> = None;
        let close = |buf: &mut [u8], run: &mut Option<usize>, w: usize| {
            if let Some(h) = run.take() {
                let len = (w - h - 1) as u32;
                buf[h + 1..h + HEADER].copy_from_slice(&len.to_be_bytes());
            }
        };
        loop {
            let avail = self.in_end - r;
            if self.verbatim > 0 {
                let n = self.verbatim.min(avail);
                if n == 0 {
                    break;
                }
                close(buf, &mut run, w);
                buf.copy_within(r..r + n, w);
                (r, w) = (r + n, w + n);
                if self.verbatim != usize::MAX {
                    self.verbatim -= n;
                }
                continue;
            }
            if avail < HEADER {
                break;
            }
            let tag = buf[r];
            let len = u32::from_be_bytes([buf[r + 1], buf[r + 2], buf[r + 3], buf[r + 4]]);
            let len = len as usize;
            if len < HEADER - 1 {
                // Not a message: hand everything on for the driver to report.
                self.verbatim = usize::MAX;
                continue;
            }
            let total = 1 + len;
            if tag != COPY_DATA || total > MERGE_MAX {
                self.verbatim = total;
                continue;
            }
            if avail < total {
                break; // the rest of this row is still to come
            }
            let h = *run.get_or_insert(w);
            if h == w {
                buf[w] = COPY_DATA;
                w += HEADER;
            }
            buf.copy_within(r + HEADER..r + total, w);
            (r, w) = (r + total, w + total - HEADER);
        }
        close(buf, &mut run, w);
        self.out_pos = self.in_pos;
        self.out_end = w;
        self.in_pos = r;
        w > self.out_pos
    }

    /// Moves the unread bytes to the front of the buffer (allocated on first use).
    fn compact(&mut self) {
        if self.buf.is_empty() {
            self.buf = vec![0u8; CAPACITY].into_boxed_slice();
        }
        self.buf.copy_within(self.in_pos..self.in_end, 0);
        self.in_end -= self.in_pos;
        (self.in_pos, self.out_pos, self.out_end) = (0, 0, 0);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for MergeCopyData<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.out_pos < this.out_end {
                let n = (this.out_end - this.out_pos).min(out.remaining());
                out.put_slice(&this.buf[this.out_pos..this.out_pos + n]);
                this.out_pos += n;
                return Poll::Ready(Ok(()));
            }
            if this.rewrite() {
                continue;
            }
            if this.eof {
                if this.in_pos < this.in_end && this.verbatim != usize::MAX {
                    // A message cut short: the driver says so.
                    this.verbatim = usize::MAX;
                    continue;
                }
                return Poll::Ready(Ok(()));
            }
            this.compact();
            if this.in_end == this.buf.len() {
                // Cannot happen (an incomplete merged message is at most half the buffer);
                // should it, the bytes go on as they are.
                this.verbatim = usize::MAX;
                continue;
            }
            // Read what the session has, up to the end of the buffer.
            let mut got = false;
            while this.in_end < this.buf.len() {
                let mut rb = ReadBuf::new(&mut this.buf[this.in_end..]);
                match Pin::new(&mut this.inner).poll_read(cx, &mut rb) {
                    Poll::Pending if got => break,
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Ready(Ok(())) => {
                        let n = rb.filled().len();
                        if n == 0 {
                            this.eof = true;
                            break;
                        }
                        this.in_end += n;
                        got = true;
                    }
                }
            }
        }
    }
}

super::write_through!(MergeCopyData);

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use tokio::io::AsyncWriteExt;

    fn message(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![tag];
        m.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    /// Splits a message stream into (tag, body); panics on a malformed one.
    fn messages(mut s: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        while !s.is_empty() {
            let len = u32::from_be_bytes(s[1..5].try_into().unwrap()) as usize;
            out.push((s[0], s[5..1 + len].to_vec()));
            s = &s[1 + len..];
        }
        out
    }

    /// CopyData runs joined: what any reader of a COPY stream sees.
    fn joined(msgs: &[(u8, Vec<u8>)]) -> Vec<(u8, Vec<u8>)> {
        let mut out: Vec<(u8, Vec<u8>)> = Vec::new();
        for (tag, body) in msgs {
            match out.last_mut() {
                Some((COPY_DATA, last)) if *tag == COPY_DATA => last.extend_from_slice(body),
                _ => out.push((*tag, body.clone())),
            }
        }
        out
    }

    /// The stream written in random pieces (with pauses), read through the merger in random
    /// pieces.
    async fn through(data: Vec<u8>, seed: u64) -> Vec<u8> {
        let (mut tx, rx) = tokio::io::duplex(64 << 10);
        let mut rng = StdRng::seed_from_u64(seed);
        let cuts: Vec<usize> = (0..data.len() / 500 + 1)
            .map(|_| rng.gen_range(1..20_000))
            .collect();
        let writer = tokio::spawn(async move {
            let mut rest = &data[..];
            for c in cuts.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let n = (*c).min(rest.len());
                tx.write_all(&rest[..n]).await.unwrap();
                rest = &rest[n..];
                if c % 3 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        });
        let got =
            super::super::read_in_pieces(MergeCopyData::new(rx), || rng.gen_range(1..70_000)).await;
        writer.await.unwrap();
        got
    }

    #[tokio::test]
    async fn copy_data_runs_merge_and_every_other_message_passes_unchanged() {
        for seed in 0..20u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut stream = Vec::new();
            let mut sent = Vec::new();
            for _ in 0..3000 {
                let (tag, len) = match rng.gen_range(0..100) {
                    0..=94 => (COPY_DATA, rng.gen_range(0..300)),
                    95 => (
                        COPY_DATA,
                        rng.gen_range(MERGE_MAX - 10..MERGE_MAX + 300_000),
                    ),
                    96 => (b'D', rng.gen_range(0..400_000)),
                    _ => (b"HcCZEN"[rng.gen_range(0..6)], rng.gen_range(0..40)),
                };
                let salt: u32 = rng.gen();
                let body: Vec<u8> = (0..len as u32)
                    .map(|i| (i.wrapping_mul(2_654_435_761) ^ salt) as u8)
                    .collect();
                stream.extend_from_slice(&message(tag, &body));
                sent.push((tag, body));
            }
            let got = through(stream, seed).await;
            let got = messages(&got);
            assert_eq!(joined(&got), joined(&sent), "seed {seed}");
            assert!(
                got.len() < sent.len() / 4,
                "seed {seed}: {} messages",
                got.len()
            );
        }
    }

    #[tokio::test]
    async fn a_cut_or_malformed_stream_is_handed_on_as_it_is() {
        let mut stream = message(COPY_DATA, b"row one");
        stream.extend_from_slice(&message(COPY_DATA, b"row two")[..6]);
        assert_eq!(
            through(stream.clone(), 1).await,
            [&message(COPY_DATA, b"row one")[..], &stream[12..]].concat()
        );
        let bad = [message(b'Z', b"I"), vec![b'd', 0, 0, 0, 1, 9, 9, 9]].concat();
        assert_eq!(through(bad.clone(), 2).await, bad);
    }
}

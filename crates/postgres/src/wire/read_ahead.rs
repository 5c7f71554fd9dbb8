//! A socket read in large pieces under the TLS session.
//!
//! rustls asks its transport for at most 4 KB at a time, so a COPY stream of a gigabyte took
//! a quarter of a million `recv` calls per connection, each with its share of TCP
//! acknowledgements to send. [`ReadAhead`] takes whatever the socket holds, up to
//! [`CAPACITY`], in one call and hands it out from memory.
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

/// Bytes read from the socket at most per call.
pub const CAPACITY: usize = 256 << 10;

/// `inner` with reads served from a buffer filled [`CAPACITY`] bytes at a time; writes go
/// straight through.
pub struct ReadAhead<S> {
    inner: S,
    buf: Box<[u8]>,
    /// The unread bytes are `buf[pos..end]`.
    pos: usize,
    end: usize,
}

impl<S> ReadAhead<S> {
    pub fn new(inner: S) -> Self {
        ReadAhead {
            inner,
            buf: Vec::new().into_boxed_slice(),
            pos: 0,
            end: 0,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReadAhead<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos == this.end {
            if out.remaining() >= CAPACITY {
                return Pin::new(&mut this.inner).poll_read(cx, out);
            }
            if this.buf.is_empty() {
                // Allocated on the first read: the handshake's few bytes need no more than
                // this either, and a session that never reads costs nothing.
                this.buf = vec![0u8; CAPACITY].into_boxed_slice();
            }
            let mut rb = ReadBuf::new(&mut this.buf);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
            let n = rb.filled().len();
            if n == 0 {
                return Poll::Ready(Ok(())); // end of stream
            }
            this.pos = 0;
            this.end = n;
        }
        let n = (this.end - this.pos).min(out.remaining());
        out.put_slice(&this.buf[this.pos..this.pos + n]);
        this.pos += n;
        Poll::Ready(Ok(()))
    }
}

super::write_through!(ReadAhead);

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// Reads through `ReadAhead` in pieces of `piece` bytes until the end of the stream.
    async fn read_all(data: Vec<u8>, piece: usize) -> Vec<u8> {
        let (mut tx, rx) = tokio::io::duplex(7919);
        let writer = tokio::spawn(async move {
            for part in data.chunks(3001) {
                tx.write_all(part).await.unwrap();
            }
        });
        let got = super::super::read_in_pieces(ReadAhead::new(rx), || piece).await;
        writer.await.unwrap();
        got
    }

    #[tokio::test]
    async fn every_byte_comes_through_in_order_whatever_the_reader_asks_for() {
        let data: Vec<u8> = (0..(3 * CAPACITY as u32 + 12345))
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for piece in [1, 4096, 5000, CAPACITY - 1, CAPACITY, 2 * CAPACITY] {
            assert_eq!(
                read_all(data.clone(), piece).await,
                data,
                "pieces of {piece}"
            );
        }
    }
}

//! What every session's bytes go through on their way to tokio-postgres, TLS or not: the socket
//! read in large pieces ([`ReadAhead`]) and the COPY rows' messages merged ([`MergeCopyData`]).
/// `impl AsyncWrite for $ty<S>`: every write goes straight to its `inner` stream.
macro_rules! write_through {
    ($ty:ident) => {
        impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for $ty<S> {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                self.inner.is_write_vectored()
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.get_mut().inner).poll_flush(cx)
            }

            fn poll_shutdown(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
            }
        }
    };
}
use write_through;

mod merge;
mod plain;
mod read_ahead;

pub use merge::MergeCopyData;
pub use plain::{connect_plain, opens_itself, ALREADY_TIMED_OUT};
pub use read_ahead::ReadAhead;

/// Reads `r` to its end, asking each time for as many bytes as `piece` says.
#[cfg(test)]
async fn read_in_pieces<R: tokio::io::AsyncRead + Unpin>(
    mut r: R,
    mut piece: impl FnMut() -> usize,
) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    loop {
        let mut buf = vec![0u8; piece()];
        let n = r.read(&mut buf).await.unwrap();
        if n == 0 {
            return got;
        }
        got.extend_from_slice(&buf[..n]);
    }
}

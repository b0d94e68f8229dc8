//! What travels between nodes, and the block-sync codec.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::request_response;
use libp2p::StreamProtocol;
use mpms_consensus::messages::FinalizedBlock;
use mpms_crypto::Hash;
use mpms_ledger::{codec, Block};
use serde::{Deserialize, Serialize};

/// A block-sync request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncRequest {
    /// What is your last finalized height?
    Status,
    /// Finalized blocks from height `from` on, at most `count` of them.
    Blocks {
        /// First height.
        from: u64,
        /// Most blocks wanted.
        count: u64,
    },
    /// The whole block with this hash at `height`: one being decided (a proposal this
    /// node received without its transactions' ciphertext or sealed keys, or not at
    /// all), or finalized there.
    Block {
        /// The height.
        height: u64,
        /// The block's hash.
        hash: Hash,
    },
}

/// A block-sync response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncResponse {
    /// The peer's last finalized height.
    Status {
        /// Height.
        height: u64,
    },
    /// Consecutive finalized blocks from the requested height (possibly fewer than
    /// asked, none if the peer has none).
    Blocks(Vec<FinalizedBlock>),
    /// The whole block asked for, if the peer holds it.
    Block(Option<Box<Block>>),
}

/// The block-sync protocol name.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/mpms/sync/1");

/// Length-prefixed canonical encoding, with a size limit per direction.
#[derive(Debug, Clone)]
pub struct SyncCodec {
    /// Largest request accepted.
    pub max_request_bytes: usize,
    /// Largest response accepted.
    pub max_response_bytes: usize,
}

/// Bytes read at a time: all that a frame costs before its bytes arrive.
const READ_CHUNK: usize = 64 << 10;

/// One length-prefixed frame of at most `max` bytes. Memory follows the bytes that
/// arrive (at most about twice them, never more than the announced length), not the
/// length a peer announces: a peer that announces 64 MiB and sends nothing costs one
/// chunk.
async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T, max: usize) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_le_bytes(len) as usize;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds the limit of {max}"),
        ));
    }
    let mut buf = Vec::new();
    while buf.len() < len {
        let filled = buf.len();
        let want = (len - filled).min(READ_CHUNK);
        if buf.capacity() < filled + want {
            // Doubling (amortized), but never past the announced length.
            let target = (filled + want)
                .max(buf.capacity().saturating_mul(2))
                .min(len);
            buf.reserve_exact(target - filled);
        }
        buf.resize(filled + want, 0);
        let n = match io.read(&mut buf[filled..]).await {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                buf.truncate(filled);
                continue;
            }
            Err(e) => return Err(e),
        };
        buf.truncate(filled + n);
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("frame ended after {filled} of {len} bytes"),
            ));
        }
    }
    Ok(buf)
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, bytes: &[u8]) -> io::Result<()> {
    let len = u32::try_from(bytes.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    io.write_all(&len.to_le_bytes()).await?;
    io.write_all(bytes).await?;
    io.flush().await
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    codec::decode(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
}

impl request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = SyncRequest;
    type Response = SyncResponse;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<SyncRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        decode(&read_frame(io, self.max_request_bytes).await?)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<SyncResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        decode(&read_frame(io, self.max_response_bytes).await?)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: SyncRequest,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &codec::encode(&request)).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: SyncResponse,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &codec::encode(&response)).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use futures::executor::block_on;
    use request_response::Codec;

    #[test]
    fn frames_round_trip_and_limits_hold() {
        let mut codec = SyncCodec {
            max_request_bytes: 64,
            max_response_bytes: 64,
        };
        let request = SyncRequest::Blocks { from: 7, count: 3 };
        let mut buf = Vec::new();
        block_on(codec.write_request(&SYNC_PROTOCOL, &mut buf, request.clone())).unwrap();
        let got = block_on(codec.read_request(&SYNC_PROTOCOL, &mut buf.as_slice())).unwrap();
        assert_eq!(got, request);

        // A length prefix over the limit is refused before anything is allocated.
        let mut huge = (u32::MAX).to_le_bytes().to_vec();
        huge.extend_from_slice(&[0; 8]);
        let err = block_on(codec.read_request(&SYNC_PROTOCOL, &mut huge.as_slice())).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);

        // Garbage inside a valid frame is a decode error, not a panic.
        let mut garbage = 5u32.to_le_bytes().to_vec();
        garbage.extend_from_slice(&[0xff; 5]);
        assert!(block_on(codec.read_response(&SYNC_PROTOCOL, &mut garbage.as_slice())).is_err());

        // A truncated frame is an error.
        let mut short = 10u32.to_le_bytes().to_vec();
        short.extend_from_slice(&[0; 3]);
        assert!(block_on(codec.read_request(&SYNC_PROTOCOL, &mut short.as_slice())).is_err());
        // A frame larger than a read chunk arrives whole.
        let big = vec![7u8; 3 * READ_CHUNK + 5];
        let mut framed = (big.len() as u32).to_le_bytes().to_vec();
        framed.extend_from_slice(&big);
        let got = block_on(read_frame(&mut framed.as_slice(), 1 << 20)).unwrap();
        assert_eq!(got, big);
    }

    /// Announces `len` bytes, delivers `sent` of them, then waits forever.
    struct Stalling {
        header: Vec<u8>,
        sent: usize,
        pos: usize,
        /// The most capacity a read was given to fill.
        widest: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }

    impl AsyncRead for Stalling {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut [u8],
        ) -> std::task::Poll<io::Result<usize>> {
            self.widest
                .fetch_max(buf.len(), std::sync::atomic::Ordering::Relaxed);
            let header = self.header.len();
            if self.pos < header {
                let n = buf.len().min(header - self.pos);
                let start = self.pos;
                buf[..n].copy_from_slice(&self.header[start..start + n]);
                self.pos += n;
                return std::task::Poll::Ready(Ok(n));
            }
            let delivered = self.pos - header;
            if delivered < self.sent {
                let n = buf.len().min(self.sent - delivered);
                buf[..n].fill(1);
                self.pos += n;
                return std::task::Poll::Ready(Ok(n));
            }
            std::task::Poll::Pending
        }
    }

    /// A peer that announces a 64 MiB answer and sends a thousand bytes costs this
    /// node a read chunk, not 64 MiB. (The whole announced length used to be
    /// allocated and zeroed before a byte arrived.)
    #[test]
    fn memory_follows_the_bytes_received_not_the_length_announced() {
        use futures::FutureExt;
        let widest = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut peer = Stalling {
            header: (64u32 << 20).to_le_bytes().to_vec(),
            sent: 1_000,
            pos: 0,
            widest: widest.clone(),
        };
        let pending = read_frame(&mut peer, 64 << 20).now_or_never();
        assert!(pending.is_none(), "still waiting for the rest");
        let widest = widest.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            widest <= READ_CHUNK,
            "a read of {widest} bytes was prepared"
        );
    }
}

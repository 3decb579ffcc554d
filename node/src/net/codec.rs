//! The frame codec both Safeport request-response protocols use: one length-prefixed frame per
//! request and per response (`u32` big-endian length, then that many bytes).
//!
//! The length prefix is read first and a frame over the limit is refused before anything is
//! allocated for it, so a peer cannot make a node reserve memory by announcing a large frame.
//! A response frame starts with a tag byte: [`Reply::Ok`] carries the application's bytes,
//! [`Reply::Error`] a short UTF-8 reason (e.g. "not admitted"), so a refusal is an answer and
//! not a silently dropped stream.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use libp2p::request_response;

/// Bytes of the length prefix.
const LENGTH_PREFIX_BYTES: usize = 4;
/// Tag byte of a response frame carrying the answer.
const TAG_OK: u8 = 0;
/// Tag byte of a response frame carrying an error reason.
const TAG_ERROR: u8 = 1;
/// Longest reason carried in an error frame; longer reasons are cut (at a character boundary)
/// when written and refused when read, so an error frame stays small whatever the frame limit.
pub(crate) const MAX_REASON_BYTES: usize = 1024;

/// A response: the remote's answer, or its reason for not answering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// The answer.
    Ok(Vec<u8>),
    /// Why there is no answer.
    Error(String),
}

impl Reply {
    /// An error reply, with the reason cut to [`MAX_REASON_BYTES`].
    pub(crate) fn error(reason: impl Into<String>) -> Self {
        Reply::Error(truncate(reason.into(), MAX_REASON_BYTES))
    }
}

/// Cuts `text` to at most `max` bytes without splitting a character.
pub(crate) fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// Length-prefixed frames of at most `max_frame_bytes` bytes (prefix not counted).
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameCodec {
    max_frame_bytes: usize,
}

impl FrameCodec {
    /// A codec refusing frames over `max_frame_bytes`. The caller keeps the limit within `u32`
    /// (checked by `NetConfig` validation), so every accepted frame has a representable prefix.
    pub(crate) fn new(max_frame_bytes: usize) -> Self {
        Self { max_frame_bytes }
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// Reads one frame, refusing it from its prefix alone when it is over `max` bytes.
pub(crate) async fn read_frame<T>(io: &mut T, max: usize) -> io::Result<Vec<u8>>
where
    T: AsyncRead + Unpin + Send,
{
    let mut prefix = [0u8; LENGTH_PREFIX_BYTES];
    io.read_exact(&mut prefix).await?;
    let announced = u32::from_be_bytes(prefix);
    let len = usize::try_from(announced)
        .ok()
        .filter(|len| *len <= max)
        .ok_or_else(|| {
            invalid(format!(
                "frame of {announced} bytes is over the limit of {max} bytes"
            ))
        })?;
    let mut frame = vec![0u8; len];
    io.read_exact(&mut frame).await?;
    Ok(frame)
}

/// Writes one frame made of `parts`, refusing to send more than `max` bytes (the remote would
/// refuse it anyway; failing here says which side is at fault).
pub(crate) async fn write_frame<T>(io: &mut T, parts: &[&[u8]], max: usize) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
{
    let len: usize = parts.iter().map(|part| part.len()).sum();
    let prefix = u32::try_from(len)
        .ok()
        .filter(|_| len <= max)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("frame of {len} bytes is over the limit of {max} bytes"),
            )
        })?;
    io.write_all(&prefix.to_be_bytes()).await?;
    for part in parts {
        io.write_all(part).await?;
    }
    io.flush().await
}

/// Decodes a response frame (tag byte, then body).
fn decode_reply(frame: Vec<u8>) -> io::Result<Reply> {
    match frame.split_first() {
        Some((&TAG_OK, _)) => {
            let mut body = frame;
            body.remove(0);
            Ok(Reply::Ok(body))
        }
        Some((&TAG_ERROR, reason)) => {
            if reason.len() > MAX_REASON_BYTES {
                return Err(invalid(format!(
                    "error reason of {} bytes is over the limit of {MAX_REASON_BYTES} bytes",
                    reason.len()
                )));
            }
            let reason = std::str::from_utf8(reason)
                .map_err(|_| invalid("error reason is not UTF-8".into()))?;
            Ok(Reply::Error(reason.to_owned()))
        }
        Some((tag, _)) => Err(invalid(format!("unknown response tag {tag}"))),
        None => Err(invalid("empty response frame".into())),
    }
}

impl request_response::Codec for FrameCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Reply;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.max_frame_bytes).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Reply>
    where
        T: AsyncRead + Unpin + Send,
    {
        decode_reply(read_frame(io, self.max_frame_bytes).await?)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &[&request], self.max_frame_bytes).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Reply,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        match response {
            Reply::Ok(body) => write_frame(io, &[&[TAG_OK], &body], self.max_frame_bytes).await,
            Reply::Error(reason) => {
                let reason = truncate(reason, MAX_REASON_BYTES);
                write_frame(io, &[&[TAG_ERROR], reason.as_bytes()], self.max_frame_bytes).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use futures::io::Cursor;
    use libp2p::request_response::Codec;

    use super::*;

    const PROTOCOL: StreamProtocol = StreamProtocol::new("/test/1");

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        futures::executor::block_on(future)
    }

    #[test]
    fn frames_round_trip() {
        let mut codec = FrameCodec::new(16);
        let mut wire = Cursor::new(Vec::new());
        block_on(codec.write_request(&PROTOCOL, &mut wire, b"hello".to_vec())).unwrap();
        block_on(codec.write_response(&PROTOCOL, &mut wire, Reply::Ok(b"world".to_vec()))).unwrap();
        block_on(codec.write_response(&PROTOCOL, &mut wire, Reply::error("no"))).unwrap();
        wire.set_position(0);
        assert_eq!(
            block_on(codec.read_request(&PROTOCOL, &mut wire)).unwrap(),
            b"hello"
        );
        assert_eq!(
            block_on(codec.read_response(&PROTOCOL, &mut wire)).unwrap(),
            Reply::Ok(b"world".to_vec())
        );
        assert_eq!(
            block_on(codec.read_response(&PROTOCOL, &mut wire)).unwrap(),
            Reply::Error("no".into())
        );
    }

    #[test]
    fn an_oversized_prefix_is_refused_before_reading_the_body() {
        // Announces 4 GiB but sends nothing more: refused from the prefix alone.
        let mut wire = Cursor::new(u32::MAX.to_be_bytes().to_vec());
        let error = block_on(FrameCodec::new(1024).read_request(&PROTOCOL, &mut wire)).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(error.to_string().contains("over the limit"), "{error}");
    }

    #[test]
    fn an_oversized_frame_is_not_written() {
        let mut wire = Cursor::new(Vec::new());
        let error = block_on(FrameCodec::new(4).write_request(&PROTOCOL, &mut wire, vec![0; 5]))
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        assert!(wire.get_ref().is_empty());
    }

    #[test]
    fn malformed_responses_are_refused() {
        for frame in [vec![], vec![7, 1, 2], vec![TAG_ERROR, 0xff, 0xfe]] {
            let mut wire = Cursor::new(Vec::new());
            block_on(write_frame(&mut wire, &[&frame], 64)).unwrap();
            wire.set_position(0);
            let result = block_on(FrameCodec::new(64).read_response(&PROTOCOL, &mut wire));
            assert!(result.is_err(), "{frame:?}");
        }
    }

    #[test]
    fn a_truncated_frame_is_an_error() {
        let mut wire = Cursor::new(vec![0, 0, 0, 10, 1, 2]);
        let error = block_on(FrameCodec::new(64).read_request(&PROTOCOL, &mut wire)).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn long_reasons_are_cut_at_a_character_boundary() {
        let reason = "é".repeat(MAX_REASON_BYTES);
        let Reply::Error(cut) = Reply::error(reason) else {
            panic!("not an error reply");
        };
        assert!(cut.len() <= MAX_REASON_BYTES);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}

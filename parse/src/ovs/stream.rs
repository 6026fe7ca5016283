//! `ovs-ofctl dump-flows` output as a stream: one reused line buffer, one [`Flow`] at a time, so
//! 100,000 flows (≈ 15 MB of text) never sit in memory together. Reply headers (repeated per
//! chunk with `flags=[more]`) and blank lines are skipped; a bad line is reported and the stream
//! goes on; lines longer than a bound are skipped without being held.

use std::io::BufRead;

use super::flow::{Flow, FlowParseError, Line, parse_line};

/// Longest flow line accepted. Neutron's longest lines are a few hundred bytes; `learn(…)`
/// actions can reach a few KiB.
pub const MAX_LINE_BYTES: usize = 64 << 10;

/// A line of the stream that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("reading flows: {0}")]
    Io(#[from] std::io::Error),
    #[error("line {line}: longer than {limit} bytes")]
    LineTooLong { line: u64, limit: usize },
    #[error("line {line}: not valid UTF-8")]
    NotUtf8 { line: u64 },
    #[error("line {line}: {source}")]
    Parse {
        line: u64,
        #[source]
        source: FlowParseError,
    },
}

impl StreamError {
    /// False for I/O errors, after which the stream ends.
    pub fn is_line_error(&self) -> bool {
        !matches!(self, StreamError::Io(_))
    }
}

/// Counters of a stream so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    pub lines: u64,
    pub bytes: u64,
    pub headers: u64,
}

/// A lending iterator over the flows of a dump: [`FlowStream::next_flow`] returns a flow that
/// borrows the stream's line buffer until the next call.
pub struct FlowStream<R> {
    reader: R,
    buf: Vec<u8>,
    max_line: usize,
    stats: StreamStats,
    done: bool,
}

impl<R: BufRead> FlowStream<R> {
    pub fn new(reader: R) -> Self {
        Self::with_max_line(reader, MAX_LINE_BYTES)
    }

    pub fn with_max_line(reader: R, max_line: usize) -> Self {
        Self {
            reader,
            buf: Vec::with_capacity(512),
            max_line,
            stats: StreamStats::default(),
            done: false,
        }
    }

    pub fn stats(&self) -> StreamStats {
        self.stats
    }

    /// The next flow, or the error of the next unusable line; `None` at the end (or after an
    /// I/O error, which is returned once).
    pub fn next_flow(&mut self) -> Option<Result<Flow<'_>, StreamError>> {
        loop {
            if self.done {
                return None;
            }
            self.buf.clear();
            let limit = self.max_line as u64 + 1;
            let n = match std::io::Read::take(&mut self.reader, limit)
                .read_until(b'\n', &mut self.buf)
            {
                Ok(0) => {
                    self.done = true;
                    return None;
                }
                Ok(n) => n,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e.into()));
                }
            };
            self.stats.lines += 1;
            self.stats.bytes += n as u64;
            let line = self.stats.lines;
            if self.buf.len() > self.max_line && self.buf.last() != Some(&b'\n') {
                let skipped = match skip_line(&mut self.reader) {
                    Ok(s) => s,
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e.into()));
                    }
                };
                self.stats.bytes += skipped;
                self.buf.clear();
                return Some(Err(StreamError::LineTooLong {
                    line,
                    limit: self.max_line,
                }));
            }
            let t = self.buf.trim_ascii();
            if t.is_empty() {
                continue;
            }
            if t.starts_with(b"NXST_FLOW reply") || t.starts_with(b"OFPST_FLOW reply") {
                self.stats.headers += 1;
                continue;
            }
            break;
        }
        let line = self.stats.lines;
        let Ok(text) = std::str::from_utf8(&self.buf) else {
            return Some(Err(StreamError::NotUtf8 { line }));
        };
        Some(match parse_line(text) {
            Ok(Line::Flow(f)) => Ok(f),
            Ok(Line::Blank | Line::Header { .. }) => Err(StreamError::Parse {
                line,
                source: FlowParseError::NoActions,
            }),
            Err(source) => Err(StreamError::Parse { line, source }),
        })
    }
}

/// Consumes the rest of an over-long line without keeping it; returns the bytes skipped.
fn skip_line<R: BufRead>(r: &mut R) -> std::io::Result<u64> {
    let mut skipped = 0u64;
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            return Ok(skipped);
        }
        match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => {
                r.consume(i + 1);
                return Ok(skipped + i as u64 + 1);
            }
            None => {
                let n = chunk.len();
                r.consume(n);
                skipped += n as u64;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OF10: &str =
        include_str!("../../../agent/tests/fixtures/ovs/ovs-ofctl_dump-flows_br-int.txt");

    fn collect(input: &[u8], max: usize) -> (Vec<u64>, Vec<String>, StreamStats) {
        let mut s = FlowStream::with_max_line(input, max);
        let (mut cookies, mut errs) = (vec![], vec![]);
        while let Some(r) = s.next_flow() {
            match r {
                Ok(f) => cookies.push(f.cookie),
                Err(e) => errs.push(e.to_string()),
            }
        }
        (cookies, errs, s.stats())
    }

    #[test]
    fn real_dump_streams_all_flows() {
        let (cookies, errs, stats) = collect(OF10.as_bytes(), MAX_LINE_BYTES);
        assert_eq!(cookies.len(), 37);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(stats.headers, 1);
        assert_eq!(stats.bytes, OF10.len() as u64);
    }

    #[test]
    fn repeated_headers_bad_lines_and_long_lines() {
        let long = format!(" cookie=0x9, priority=1,{} actions=drop\n", "x".repeat(500));
        let mut bytes = Vec::new();
        bytes.extend_from_slice(b"NXST_FLOW reply (xid=0x4): flags=[more]\n");
        bytes.extend_from_slice(b" cookie=0x1, table=0, priority=1 actions=drop\ngarbage\n");
        bytes.extend_from_slice(long.as_bytes());
        bytes.extend_from_slice(b"NXST_FLOW reply (xid=0x4):\n\xff\n");
        bytes.extend_from_slice(b" cookie=0x2, table=1, actions=NORMAL");
        let (cookies, errs, stats) = collect(&bytes, 200);
        assert_eq!(cookies, vec![1, 2]);
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs[0].contains("line 3") && errs[0].contains("no actions"));
        assert!(errs[1].contains("longer than 200"));
        assert!(errs[2].contains("UTF-8"));
        assert_eq!(stats.headers, 2);
        assert_eq!(stats.bytes, bytes.len() as u64);
    }

    #[test]
    fn io_error_ends_the_stream() {
        struct Failing;
        impl std::io::Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("pipe broke"))
            }
        }
        let mut s = FlowStream::new(std::io::BufReader::new(Failing));
        assert!(matches!(s.next_flow(), Some(Err(StreamError::Io(_)))));
        assert!(s.next_flow().is_none());
    }
}

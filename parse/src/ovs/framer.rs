//! Cuts an OVSDB JSON-RPC byte stream into messages. RFC 7047 sends bare JSON objects back to
//! back (no length prefix, no newline guarantee), so message ends are found by tracking object
//! depth outside strings; each complete object is then parsed by serde_json.

use serde_json::Value;

use super::ovsdb::OvsdbError;

/// Incremental splitter of concatenated JSON objects, bounded in buffered bytes.
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
    /// Bytes of `buf` already scanned.
    scanned: usize,
    depth: usize,
    in_string: bool,
    escaped: bool,
    max: usize,
}

impl Framer {
    /// A framer refusing messages larger than `max` bytes.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            ..Self::default()
        }
    }

    /// Adds received bytes and returns the messages they complete.
    pub fn feed(&mut self, data: &[u8]) -> Result<Vec<Value>, OvsdbError> {
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        let mut start = 0;
        let mut i = self.scanned;
        while i < self.buf.len() {
            let b = self.buf[i];
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
            } else {
                match b {
                    b'"' if self.depth > 0 => self.in_string = true,
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' if self.depth > 0 => {
                        self.depth -= 1;
                        if self.depth == 0 {
                            let msg = &self.buf[start..=i];
                            let v = serde_json::from_slice(msg)
                                .map_err(|e| OvsdbError::Framing(e.to_string()))?;
                            out.push(v);
                            start = i + 1;
                        }
                    }
                    b' ' | b'\n' | b'\r' | b'\t' if self.depth == 0 => start = i + 1,
                    _ if self.depth == 0 => {
                        return Err(OvsdbError::Framing(format!(
                            "unexpected byte 0x{b:02x} between messages"
                        )));
                    }
                    _ => {}
                }
            }
            i += 1;
        }
        self.buf.drain(..start);
        self.scanned = self.buf.len();
        if self.buf.len() > self.max {
            return Err(OvsdbError::TooLarge(self.max));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_concatenated_messages_across_chunks() {
        let text = br#"{"id":1,"result":[{"rows":[{"name":"a}\"{"}]}],"error":null}
{"method":"echo","params":[],"id":"echo"}{"id":2}"#;
        for chunk in [1, 3, 7, 64, text.len()] {
            let mut f = Framer::new(1 << 20);
            let mut got = vec![];
            for c in text.chunks(chunk) {
                got.extend(f.feed(c).unwrap());
            }
            assert_eq!(got.len(), 3, "chunk {chunk}");
            assert_eq!(got[0]["result"][0]["rows"][0]["name"], "a}\"{");
            assert_eq!(got[1]["method"], "echo");
            assert_eq!(got[2]["id"], 2);
        }
    }

    #[test]
    fn refuses_garbage_and_oversize() {
        assert!(Framer::new(100).feed(b"hello").is_err());
        assert!(Framer::new(100).feed(b"{\"a\":tru}").is_err());
        let mut f = Framer::new(10);
        assert!(matches!(
            f.feed(b"{\"aaaaaaaaaaaaaaa"),
            Err(OvsdbError::TooLarge(10))
        ));
        // a stray closer at depth 0 is garbage, not an underflow
        assert!(Framer::new(100).feed(b"}").is_err());
    }
}

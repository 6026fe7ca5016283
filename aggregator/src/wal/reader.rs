//! Following the WAL while it is written: a [`Follower`] reads whole records from a position
//! (segment number, byte offset) on, and reports when it has caught up with the writer. It
//! never writes or truncates: a frame that is not complete yet is "not yet"; once a newer
//! segment exists, whatever incomplete remains of the older one is skipped (the writer only
//! starts a segment after finishing the previous one, and a restart truncates torn tails).
//! Segments deleted before the follower got to them (retention, size limit) are skipped and
//! reported, so the caller can count what it lost.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::record::{CASTAGNOLI, MAX_RECORD_BYTES, decode_body, frame_head};
use super::{WalError, WalRecord, io, segment_path};

/// A place in the WAL: the byte after a record, or the start of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
}

/// What [`Follower::next`] found.
#[derive(Debug)]
pub enum Next {
    /// A record, and the position just after it.
    Record(Box<WalRecord>, Position),
    /// Nothing complete beyond the current position yet.
    CaughtUp,
    /// Segments `from..to` were deleted before they were read; reading goes on at `to`.
    Missed { from: u64, to: u64 },
}

/// The segment numbers in `dir`, ascending.
pub fn segments(dir: &Path) -> Result<Vec<u64>, WalError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(dir)(e)),
    };
    let mut v: Vec<u64> = rd
        .filter_map(|e| {
            let name = e.ok()?.file_name();
            name.to_str()?.strip_suffix(".wal")?.parse().ok()
        })
        .collect();
    v.sort_unstable();
    Ok(v)
}

/// Reads the WAL in `dir` from a position on.
#[derive(Debug)]
pub struct Follower {
    dir: PathBuf,
    pos: Position,
    file: Option<File>,
}

enum Frame {
    Whole(Box<WalRecord>, u64),
    Incomplete,
    Bad,
}

fn read_frame(file: &File, path: &Path, offset: u64) -> Result<Frame, WalError> {
    let mut head = [0u8; 8];
    let n = read_full(file, path, &mut head, offset)?;
    if n < 8 {
        return Ok(Frame::Incomplete);
    }
    let (len, snappy, crc) = frame_head(&head);
    if len > MAX_RECORD_BYTES {
        return Ok(Frame::Bad);
    }
    let mut body = vec![0u8; len];
    if read_full(file, path, &mut body, offset + 8)? < len {
        return Ok(Frame::Incomplete);
    }
    if CASTAGNOLI.checksum(&body) != crc {
        return Ok(Frame::Bad);
    }
    match decode_body(&body, snappy) {
        Ok(r) => Ok(Frame::Whole(Box::new(r), 8 + len as u64)),
        Err(_) => Ok(Frame::Bad),
    }
}

fn read_full(file: &File, path: &Path, buf: &mut [u8], offset: u64) -> Result<usize, WalError> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io(path)(e)),
        }
    }
    Ok(got)
}

impl Follower {
    /// A follower starting at `from` (offset 0 of segment 0: the oldest segment there is).
    pub fn new(dir: &Path, from: Position) -> Self {
        Self {
            dir: dir.to_path_buf(),
            pos: from,
            file: None,
        }
    }

    /// Where the next record would start.
    pub fn position(&self) -> Position {
        self.pos
    }

    fn open_current(&mut self) -> Result<Option<Next>, WalError> {
        if self.file.is_some() {
            return Ok(None);
        }
        let p = segment_path(&self.dir, self.pos.segment);
        match File::open(&p) {
            Ok(f) => {
                self.file = Some(f);
                Ok(None)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let all = segments(&self.dir)?;
                match all.iter().find(|&&n| n > self.pos.segment) {
                    Some(&n) => {
                        let from = self.pos.segment;
                        self.pos = Position {
                            segment: n,
                            offset: 0,
                        };
                        // Segment 0 is "from the oldest": nothing was missed.
                        if from == 0 {
                            return self.open_current();
                        }
                        Ok(Some(Next::Missed { from, to: n }))
                    }
                    None => Ok(Some(Next::CaughtUp)),
                }
            }
            Err(e) => Err(io(&p)(e)),
        }
    }

    /// The next whole record, or why there is none.
    pub fn next_record(&mut self) -> Result<Next, WalError> {
        loop {
            if let Some(n) = self.open_current()? {
                return Ok(n);
            }
            let Some(file) = &self.file else {
                return Ok(Next::CaughtUp);
            };
            let path = segment_path(&self.dir, self.pos.segment);
            match read_frame(file, &path, self.pos.offset)? {
                Frame::Whole(r, len) => {
                    self.pos.offset += len;
                    return Ok(Next::Record(r, self.pos));
                }
                Frame::Incomplete | Frame::Bad => {
                    // A newer segment means this one is finished: look once more (the last
                    // frame may have been completed meanwhile), then move on.
                    let newer = segments(&self.dir)?
                        .into_iter()
                        .find(|&n| n > self.pos.segment);
                    if newer.is_none() {
                        return Ok(Next::CaughtUp);
                    }
                    if let Frame::Whole(r, len) = read_frame(file, &path, self.pos.offset)? {
                        self.pos.offset += len;
                        return Ok(Next::Record(r, self.pos));
                    }
                    // Segments are numbered consecutively: a gap is reported by open_current.
                    self.file = None;
                    self.pos = Position {
                        segment: self.pos.segment + 1,
                        offset: 0,
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::{Wal, WalOptions};
    use hvscope_proto::v1::Batch;

    fn rec(seq: u64) -> WalRecord {
        WalRecord {
            node: "n".into(),
            batch: Some(Batch {
                seq,
                timestamp_ms: seq as i64,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn seqs(f: &mut Follower) -> Vec<u64> {
        let mut v = Vec::new();
        while let Next::Record(r, _) = f.next_record().unwrap() {
            v.push(r.batch.unwrap().seq);
        }
        v
    }

    #[test]
    fn follows_the_writer_across_segments_and_resumes() {
        let dir = std::env::temp_dir().join(format!("hvscope-walfollow-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let opts = WalOptions {
            dir: dir.clone(),
            fsync: false,
            segment_bytes: 60,
            max_bytes: 1 << 20,
        };
        let (w, _) = Wal::open(opts.clone(), |_| {}).unwrap();
        let mut f = Follower::new(&dir, Position::default());
        assert!(matches!(f.next_record().unwrap(), Next::CaughtUp));
        for s in 1..=5 {
            w.append(|_| rec(s)).unwrap();
        }
        assert_eq!(seqs(&mut f), [1, 2, 3, 4, 5]);
        let at = f.position();
        w.append(|_| rec(6)).unwrap();
        assert_eq!(seqs(&mut f), [6]);
        // a second follower from the saved position sees only what came after it
        let mut g = Follower::new(&dir, at);
        assert_eq!(seqs(&mut g), [6]);
        // half a frame written: not yet
        let last = segments(&dir).unwrap().pop().unwrap();
        let mut buf = Vec::new();
        crate::wal::record::encode(&rec(7), &mut buf);
        std::fs::OpenOptions::new()
            .append(true)
            .open(segment_path(&dir, last))
            .unwrap()
            .write_all_at_end(&buf[..5]);
        assert!(matches!(g.next_record().unwrap(), Next::CaughtUp));
        drop(w);
        // restart: the torn tail is truncated, a new segment begins, reading goes on
        let (w, _) = Wal::open(opts, |_| {}).unwrap();
        w.append(|_| rec(8)).unwrap();
        assert_eq!(seqs(&mut g), [8]);
        // deleted segments are reported as missed
        let mut old = Follower::new(
            &dir,
            Position {
                segment: 1,
                offset: 0,
            },
        );
        for n in segments(&dir).unwrap().iter().take(1) {
            std::fs::remove_file(segment_path(&dir, *n)).unwrap();
        }
        let n = old.next_record().unwrap();
        assert!(matches!(n, Next::Missed { from: 1, .. }), "{n:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    trait AppendRaw {
        fn write_all_at_end(self, b: &[u8]);
    }
    impl AppendRaw for File {
        fn write_all_at_end(mut self, b: &[u8]) {
            std::io::Write::write_all(&mut self, b).unwrap();
        }
    }
}

//! The node store's side of the write-ahead log: building a batch's record (with the series
//! definitions its WAL segment lacks, so segments replay on their own) and replaying records
//! on start, which restores the TSDB samples and each node's agent instance and last sequence
//! (so `Accepted.resume_from_seq` lets the agent skip what was durable).

use hvscope_proto::v1::{Batch, SeriesDef};
use tracing::warn;

use super::{Instance, Node, NodeStore, lock};
use crate::wal::WalRecord;

impl Node {
    /// The WAL record of `batch` landing in WAL segment `segment`.
    pub(super) fn wal_record(
        &mut self,
        segment: u64,
        batch: &Batch,
        samples: &[(u64, f64)],
    ) -> WalRecord {
        if self.wal_segment != segment {
            self.wal_segment = segment;
            self.wal_defined.clear();
        }
        let mut b = batch.clone();
        // Definitions the limits refused are not logged (replay would refuse them again).
        b.defs.retain(|d| self.defs.contains_key(&d.id));
        for d in &b.defs {
            self.wal_defined.insert(d.id);
        }
        for &(id, _) in samples {
            if self.wal_defined.contains(&id) {
                continue;
            }
            if let Some(def) = self.defs.get(&id) {
                b.defs.push(SeriesDef {
                    id,
                    labels: super::wire_labels(&def.labels),
                });
                self.wal_defined.insert(id);
            }
        }
        WalRecord {
            node: self.name.clone(),
            boot_id: self.hello.boot_id.clone(),
            started_ms: self.hello.started_ms,
            hello_labels: self.hello.labels.clone(),
            batch: Some(b),
            stale_ms: 0,
            derived: Vec::new(),
        }
    }
}

impl NodeStore {
    /// Applies one replayed WAL record (never logged again). Returns the samples stored.
    pub fn replay(&self, rec: WalRecord) -> usize {
        let Some(batch) = rec.batch else {
            if rec.stale_ms != 0 {
                let n = self.node(&rec.node);
                let ended = lock(&n).mark_stale(&self.db, rec.stale_ms);
                self.count_ended(ended);
            }
            return 0;
        };
        let samples = match hvscope_proto::unpack_samples(&batch) {
            Ok(s) => s,
            Err(error) => {
                warn!(%error, node = %rec.node, seq = batch.seq, "unreadable batch in the wal; skipped");
                return 0;
            }
        };
        let n = self.node(&rec.node);
        let mut n = lock(&n);
        let inst = Instance {
            boot_id: rec.boot_id.clone(),
            started_ms: rec.started_ms,
        };
        n.switch_instance(inst);
        n.hello.boot_id = rec.boot_id;
        n.hello.started_ms = rec.started_ms;
        n.hello.labels = rec.hello_labels;
        let applied = n.apply(
            self.target(false),
            &batch,
            &samples,
            false,
            batch.timestamp_ms,
        );
        let stored = match applied {
            super::Applied::New { samples, ended, .. } => {
                self.count_ended(ended);
                samples
            }
            _ => 0,
        };
        n.stream_first_seq = None;
        stored
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hvscope_proto::v1::{Hello, Label};

    use super::*;
    use crate::labels::{MatchKind, Matcher};
    use crate::nodes::Applied;
    use crate::tsdb::{Db, xor};
    use crate::wal::{Wal, WalOptions};

    fn opts(tag: &str, segment_bytes: u64) -> WalOptions {
        let dir =
            std::env::temp_dir().join(format!("hvscope-nodewal-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        WalOptions {
            dir,
            fsync: false,
            segment_bytes,
            max_bytes: 1 << 30,
        }
    }

    fn def(id: u64, name: &str) -> SeriesDef {
        SeriesDef {
            id,
            labels: vec![Label {
                name: "__name__".into(),
                value: name.into(),
            }],
        }
    }

    /// Batch `seq` with samples for ids 1 and 2; defines them only in the first batch.
    fn batch(seq: u64) -> Batch {
        Batch {
            seq,
            timestamp_ms: seq as i64 * 10_000,
            defs: if seq == 1 {
                vec![def(1, "a"), def(2, "b")]
            } else {
                vec![]
            },
            id_deltas: vec![1, 1],
            values: vec![seq as f64, -(seq as f64)],
            ..Default::default()
        }
    }

    fn store(o: &WalOptions) -> (NodeStore, usize) {
        let mut s = NodeStore::with_db(Arc::new(Db::default()));
        let mut replayed = 0;
        let (wal, _) = Wal::open(o.clone(), |r| replayed += s.replay(r)).unwrap();
        s.set_wal(Arc::new(wal));
        (s, replayed)
    }

    fn samples(s: &NodeStore, name: &str) -> Vec<(i64, f64)> {
        let m = Matcher::new(MatchKind::Equal, "__name__", name).unwrap();
        s.db()
            .select(&[m], 0, i64::MAX)
            .unwrap()
            .iter()
            .flat_map(|x| x.chunks.iter().flat_map(|c| xor::decode(&c.data).unwrap()))
            .collect()
    }

    #[test]
    fn replay_restores_samples_and_resume_point_even_without_old_segments() {
        // tiny segments: nearly every batch starts a new one
        let o = opts("replay", 64);
        let hello = Hello {
            boot_id: "boot".into(),
            started_ms: 5,
            ..Default::default()
        };
        {
            let (s, replayed) = store(&o);
            assert_eq!(replayed, 0);
            s.open_stream("n1", &hello, 0);
            for seq in 1..=10 {
                let b = batch(seq);
                let unpacked = hvscope_proto::unpack_samples(&b).unwrap();
                assert!(matches!(
                    s.apply("n1", &b, &unpacked, true, 0),
                    Applied::New { samples: 2, .. }
                ));
            }
        }
        let (s, replayed) = store(&o);
        assert_eq!(replayed, 20);
        assert_eq!(
            s.open_stream("n1", &hello, 0),
            11,
            "resume after the durable batches"
        );
        assert_eq!(samples(&s, "b").len(), 10);
        assert_eq!(samples(&s, "a")[9], (100_000, 10.0));

        // Without the oldest segments (retention), later ones still name their series.
        let mut files: Vec<_> = std::fs::read_dir(&o.dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        drop(s);
        for f in &files[..3] {
            std::fs::remove_file(f).unwrap();
        }
        let (s, replayed) = store(&o);
        assert!(replayed >= 14, "{replayed}");
        assert_eq!(samples(&s, "a").last(), Some(&(100_000, 10.0)));
        let _ = std::fs::remove_dir_all(&o.dir);
    }

    #[test]
    fn stale_markers_survive_a_restart() {
        let o = opts("stale", 1 << 20);
        let hello = Hello {
            boot_id: "boot".into(),
            started_ms: 5,
            ..Default::default()
        };
        let ended = |s: &NodeStore, name: &str| {
            samples(s, name)
                .iter()
                .filter(|(_, v)| crate::nodes::is_stale(*v))
                .map(|(t, _)| *t)
                .collect::<Vec<_>>()
        };
        {
            let (s, _) = store(&o);
            s.open_stream("n1", &hello, 0);
            for seq in 1..=2 {
                let mut b = batch(seq);
                if seq == 2 {
                    // "b" is no longer sent: its marker comes from replaying this batch.
                    b.id_deltas = vec![1];
                    b.values = vec![2.0];
                }
                let unpacked = hvscope_proto::unpack_samples(&b).unwrap();
                s.apply("n1", &b, &unpacked, true, 20_000);
            }
            // Silent: declared stale at 90 s, logged.
            s.record_liveness(90_000, 60_000, 30_000);
            assert_eq!(ended(&s, "a"), [90_000]);
            assert_eq!(ended(&s, "b"), [20_000]);
        }
        let (s, _) = store(&o);
        assert_eq!(ended(&s, "a"), [90_000], "the stale declaration replays");
        assert_eq!(
            ended(&s, "b"),
            [20_000],
            "the missing series' marker replays"
        );
        assert_eq!(samples(&s, "a").len(), 3);
        let _ = std::fs::remove_dir_all(&o.dir);
    }
}

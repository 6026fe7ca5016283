//! Realistic agent data for the benchmarks: one node-like mix of series scraped every 10 s
//! with a few ms of timer jitter; 40 % float counters with centisecond precision (CPU
//! seconds), 30 % integer counters (bytes, packets), 15 % fluctuating gauges (memory in 4 KiB
//! pages, load with two decimals), 15 % constant gauges (sizes, info, up).

/// Deterministic xorshift.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Labels of series `i` (sorted), spread over 100 nodes.
pub fn labels(i: usize) -> hvscope_aggregator::labels::Labels {
    let kind = ["cpu_seconds_total", "bytes_total", "memory_bytes", "info"][kind_of(i)];
    let v = [
        ("__name__".to_owned(), format!("bench_{kind}")),
        ("node".to_owned(), format!("compute-{:04}", i % 100)),
        ("rack".to_owned(), format!("r{}", i % 100 / 20)),
        ("series".to_owned(), (i / 100).to_string()),
    ];
    hvscope_aggregator::labels::Labels::from_pairs(&v)
}

fn kind_of(i: usize) -> usize {
    match i % 20 {
        0..=7 => 0,
        8..=13 => 1,
        14..=16 => 2,
        _ => 3,
    }
}

/// Per-series state producing the next value.
pub struct Gen {
    kind: usize,
    v: f64,
}

impl Gen {
    pub fn new(i: usize, rng: &mut Rng) -> Self {
        let kind = kind_of(i);
        let v = match kind {
            0 => rng.below(1_000_000) as f64 / 100.0,
            1 => rng.below(1 << 40) as f64,
            2 => (rng.below(1 << 20) * 4096) as f64,
            _ => 1.0 + (i % 7) as f64,
        };
        Self { kind, v }
    }

    pub fn next(&mut self, rng: &mut Rng) -> f64 {
        match self.kind {
            0 => self.v = ((self.v * 100.0).round() + rng.below(1000) as f64) / 100.0,
            1 => self.v += rng.below(5_000_000) as f64,
            2 => {
                let pages = rng.below(200) as f64 - 100.0;
                self.v = (self.v + pages * 4096.0).max(0.0);
            }
            _ => {}
        }
        self.v
    }
}

/// Batch timestamps: every 10 s from `start_ms` with up to 5 ms of jitter.
pub fn timestamps(start_ms: i64, n: usize, rng: &mut Rng) -> Vec<i64> {
    (0..n)
        .map(|k| start_ms + k as i64 * 10_000 + rng.below(6) as i64)
        .collect()
}

//! Remote-read over HTTP, side by side: the same 10k series × 1 h (10 s interval) served by
//! our `POST /api/v1/read` (in-process axum on loopback) and by a real Prometheus (Debian's
//! 2.42, data imported with `promtool tsdb create-blocks-from openmetrics`). Times the whole
//! answer received by a client for `SAMPLES` and `STREAMED_XOR_CHUNKS`, and checks that both
//! return the same number of samples. Needs `prometheus` and `promtool` on PATH.
//! Run: `cargo bench -p hvscope-aggregator --bench remote_read`.

#[path = "common/data.rs"]
mod data;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hvscope_aggregator::config::RemoteReadConfig;
use hvscope_aggregator::metrics::Metrics;
use hvscope_aggregator::remote_read::codec::read_frame;
use hvscope_aggregator::remote_read::handler::{ReadState, router};
use hvscope_aggregator::remote_read::proto::{
    LabelMatcher, MatcherType, Query, ReadRequest, ReadResponse, ResponseType,
};
use hvscope_aggregator::tsdb::{Db, xor};
use prost::Message;

const SERIES: usize = 10_000;
const POINTS: usize = 360;

fn post(addr: SocketAddr, body: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "POST /api/v1/read HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/x-protobuf\r\n\
         Content-Encoding: snappy\r\nX-Prometheus-Remote-Read-Version: 0.1.0\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .expect("write");
    s.write_all(body).expect("write body");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read");
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let mut rest = &buf[end + 4..];
    if !head.contains("transfer-encoding: chunked") {
        return rest.to_vec();
    }
    let mut out = Vec::new();
    loop {
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk line");
        let n =
            usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap().trim(), 16).unwrap();
        rest = &rest[eol + 2..];
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&rest[..n]);
        rest = &rest[n + 2..];
    }
}

fn count_samples(kind: ResponseType, body: &[u8]) -> usize {
    match kind {
        ResponseType::Samples => {
            let raw = snap::raw::Decoder::new()
                .decompress_vec(body)
                .expect("snappy");
            let r = ReadResponse::decode(raw.as_slice()).expect("ReadResponse");
            r.results[0]
                .timeseries
                .iter()
                .map(|t| t.samples.len())
                .sum()
        }
        ResponseType::StreamedXorChunks => {
            let (mut rest, mut n) = (body, 0);
            while let Some((m, used)) = read_frame(rest, 64 << 20).expect("frame") {
                for s in m.chunked_series {
                    for c in s.chunks {
                        n += xor::sample_count(&c.data).unwrap() as usize;
                    }
                }
                rest = &rest[used..];
            }
            n
        }
    }
}

fn request(start: i64, end: i64, kind: ResponseType) -> Vec<u8> {
    let req = ReadRequest {
        queries: vec![Query {
            start_timestamp_ms: start,
            end_timestamp_ms: end,
            matchers: vec![LabelMatcher {
                r#type: MatcherType::Re as i32,
                name: "__name__".into(),
                value: "bench_.*".into(),
            }],
            hints: None,
        }],
        accepted_response_types: vec![kind as i32],
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap()
}

fn main() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let start = (now - 3_700_000) / 1000 * 1000;
    let mut rng = data::Rng(42);
    let db = Arc::new(Db::new(i64::MAX / 4));
    let ts = data::timestamps(start, POINTS, &mut rng);
    let dir = std::env::temp_dir().join(format!("hvscope-bench-rr-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let om_path = dir.join("data.om");
    let mut om = std::io::BufWriter::new(std::fs::File::create(&om_path).unwrap());
    for i in 0..SERIES {
        let l = data::labels(i);
        let mut h = db.series(&l);
        let mut g = data::Gen::new(i, &mut rng);
        let name = l.name();
        let rest: Vec<String> = l
            .pairs()
            .filter(|p| p.0 != "__name__")
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        for &t in &ts {
            let v = g.next(&mut rng);
            db.append(&mut h, t, v);
            writeln!(
                om,
                "{name}{{{}}} {v} {}.{:03}",
                rest.join(","),
                t / 1000,
                t % 1000
            )
            .unwrap();
        }
    }
    writeln!(om, "# EOF").unwrap();
    drop(om);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let state = ReadState::new(
        db.clone(),
        Arc::new(Metrics::default()),
        RemoteReadConfig::default(),
    );
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let ours = listener.local_addr().unwrap();
    rt.spawn(async move { axum::serve(listener, router(state)).await });

    let tsdb = dir.join("prom");
    let t = Instant::now();
    let st = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&om_path)
        .arg(&tsdb)
        .stdout(Stdio::null())
        .status()
        .expect("promtool on PATH");
    assert!(st.success());
    eprintln!("promtool import: {:.1} s", t.elapsed().as_secs_f64());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let prom: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    std::fs::write(dir.join("p.yml"), "global: {scrape_interval: 1m}\n").unwrap();
    let mut child = Command::new("prometheus")
        .arg(format!("--config.file={}", dir.join("p.yml").display()))
        .arg(format!("--storage.tsdb.path={}", tsdb.display()))
        .arg(format!("--web.listen-address={prom}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus on PATH");
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(prom).is_err() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));

    let (lo, hi) = (start - 1000, ts[POINTS - 1] + 1000);
    for kind in [ResponseType::Samples, ResponseType::StreamedXorChunks] {
        let body = request(lo, hi, kind);
        for (who, addr) in [("hvscope", ours), ("prometheus", prom)] {
            let mut best = f64::MAX;
            let mut n = 0;
            for _ in 0..3 {
                let t = Instant::now();
                let answer = post(addr, &body);
                best = best.min(t.elapsed().as_secs_f64());
                n = count_samples(kind, &answer);
            }
            println!(
                "{kind:?} {who:>10}: {n} samples, best of 3 {best:.3} s = {:.2} M samples/s",
                n as f64 / best / 1e6
            );
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

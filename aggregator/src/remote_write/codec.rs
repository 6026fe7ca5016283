//! Remote-write 1.0 request bodies, pure: samples (in WAL order) grouped by series into a
//! `prometheus.WriteRequest`, external labels merged in, protobuf-encoded and snappy
//! block-compressed. Within a series, samples keep their order, which is timestamp order
//! (the TSDB appends only newer samples).

use std::collections::HashMap;

use prost::Message;

use crate::labels::Labels;
use crate::remote_read::proto::{Label, Sample, TimeSeries};

/// `prometheus.WriteRequest` (samples only; metadata, exemplars, histograms not sent).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// The request headers of remote-write 1.0.
pub const HEADERS: [(&str, &str); 3] = [
    ("content-encoding", "snappy"),
    ("content-type", "application/x-protobuf"),
    ("x-prometheus-remote-write-version", "0.1.0"),
];

/// The labels sent for a series: its own, plus each external label it lacks, sorted by name.
pub fn with_external(labels: &Labels, external: &[(String, String)]) -> Vec<Label> {
    let mut v: Vec<Label> = labels
        .pairs()
        .map(|(name, value)| Label {
            name: name.to_owned(),
            value: value.to_owned(),
        })
        .collect();
    for (name, value) in external {
        if labels.get(name).is_none() {
            v.push(Label {
                name: name.clone(),
                value: value.clone(),
            });
        }
    }
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// The write request for `samples`, one time series per distinct label set, in order of
/// first appearance.
pub fn request(samples: &[(Labels, i64, f64)], external: &[(String, String)]) -> WriteRequest {
    let mut at: HashMap<&Labels, usize> = HashMap::new();
    let mut timeseries: Vec<TimeSeries> = Vec::new();
    for (labels, t, v) in samples {
        let i = *at.entry(labels).or_insert_with(|| {
            timeseries.push(TimeSeries {
                labels: with_external(labels, external),
                samples: Vec::new(),
            });
            timeseries.len() - 1
        });
        timeseries[i].samples.push(Sample {
            value: *v,
            timestamp: *t,
        });
    }
    WriteRequest { timeseries }
}

/// The request body: protobuf, snappy block format.
pub fn body(req: &WriteRequest) -> Vec<u8> {
    let raw = req.encode_to_vec();
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nodes::{STALE_NAN, is_stale};

    fn l(name: &str) -> Labels {
        Labels::from_pairs(&[("__name__", name), ("node", "n1")])
    }

    #[test]
    fn groups_by_series_in_order_and_round_trips_stale_markers() {
        let ext = vec![
            ("__replica__".to_owned(), "a".to_owned()),
            ("node".to_owned(), "ignored".to_owned()),
        ];
        let s = vec![
            (l("a"), 1000, 1.0),
            (l("b"), 1000, 2.0),
            (l("a"), 2000, STALE_NAN),
        ];
        let req = request(&s, &ext);
        assert_eq!(req.timeseries.len(), 2);
        let names: Vec<&str> = req.timeseries[0]
            .labels
            .iter()
            .map(|l| l.name.as_str())
            .collect();
        assert_eq!(names, ["__name__", "__replica__", "node"]);
        assert_eq!(
            req.timeseries[0].labels[2].value, "n1",
            "the series' own label wins"
        );
        let raw = snap::raw::Decoder::new()
            .decompress_vec(&body(&req))
            .unwrap();
        let back = WriteRequest::decode(raw.as_slice()).unwrap();
        let a = &back.timeseries[0].samples;
        assert_eq!((a[0].timestamp, a[0].value), (1000, 1.0));
        assert_eq!(a[1].timestamp, 2000);
        assert!(is_stale(a[1].value), "the marker keeps its exact bits");
        assert_eq!(back.timeseries[1].samples.len(), 1);
    }

    /// The bytes of a one-sample request, as Prometheus' prompb encodes them.
    #[test]
    fn known_bytes() {
        let req = request(&[(Labels::from_pairs(&[("a", "b")]), 1, 2.0)], &[]);
        let raw = req.encode_to_vec();
        assert_eq!(
            raw,
            [
                0x0a, 0x15, // timeseries, 21 bytes
                0x0a, 0x06, 0x0a, 0x01, b'a', 0x12, 0x01, b'b', // label a="b"
                0x12, 0x0b, 0x09, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x10, 0x01, // sample 2.0 @ 1
            ]
        );
    }
}

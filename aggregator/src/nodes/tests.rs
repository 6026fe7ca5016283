use super::*;

fn hello(boot: &str) -> Hello {
    Hello {
        boot_id: boot.into(),
        started_ms: 1,
        labels: vec![Label {
            name: "node".into(),
            value: "liar".into(),
        }],
        ..Default::default()
    }
}

fn def(id: u64, name: &str) -> SeriesDef {
    SeriesDef {
        id,
        labels: vec![
            Label {
                name: "__name__".into(),
                value: name.into(),
            },
            Label {
                name: "node".into(),
                value: "liar".into(),
            },
        ],
    }
}

fn batch(seq: u64, defs: Vec<SeriesDef>) -> Batch {
    Batch {
        seq,
        timestamp_ms: seq as i64 * 1000,
        defs,
        ..Default::default()
    }
}

#[test]
fn duplicates_apply_once_and_node_label_is_stamped() {
    let s = NodeStore::default();
    assert_eq!(s.open_stream("node-a", &hello("b1"), 0), 0);
    let b1 = batch(1, vec![def(1, "m")]);
    assert_eq!(
        s.apply("node-a", &b1, &[(1, 5.0)], true, 0),
        Applied::New {
            samples: 1,
            gap: 0,
            ended: 0,
            refused: Refused::default()
        }
    );
    assert_eq!(
        s.apply("node-a", &b1, &[(1, 5.0)], true, 0),
        Applied::Duplicate
    );
    let v = s.view(true);
    let n = &v.nodes[0];
    assert_eq!(n.node, "node-a");
    assert_eq!(n.batches, 1);
    assert!(n.labels.is_empty(), "the hello's node label is not kept");
    let series = n.series_values.as_ref().unwrap();
    assert_eq!(series[0].labels["node"], "node-a");
    // reconnect of the same instance: resume after what was applied
    s.close_stream("node-a", 0);
    assert_eq!(s.open_stream("node-a", &hello("b1"), 0), 2);
    // a new boot starts over
    assert_eq!(s.open_stream("node-a", &hello("b2"), 0), 0);
    assert_eq!(s.view(false).nodes[0].series, 0);
}

#[test]
fn unknown_series_and_gaps() {
    let s = NodeStore::default();
    s.open_stream("n", &hello("b"), 0);
    assert_eq!(
        s.apply("n", &batch(1, vec![]), &[(9, 1.0)], true, 0),
        Applied::UnknownSeries { unknown: 1 }
    );
    assert_eq!(
        s.apply(
            "n",
            &batch(1, vec![def(2, "x")]),
            &[(9, 1.0), (2, 1.0)],
            false,
            0
        ),
        Applied::New {
            samples: 1,
            gap: 0,
            ended: 0,
            refused: Refused::default()
        }
    );
    assert_eq!(
        s.apply("n", &batch(5, vec![]), &[(2, 2.0)], true, 0),
        Applied::New {
            samples: 1,
            gap: 3,
            ended: 0,
            refused: Refused::default()
        }
    );
}

use crate::labels::{MatchKind, Matcher};
use crate::tsdb::xor;
use hvscope_proto::v1::{Finding, Severity};

/// Every stored sample of the series named `name`, by the value of label `by`.
pub(super) fn stored(s: &NodeStore, name: &str, by: &str) -> Vec<(String, Vec<(i64, f64)>)> {
    let m = Matcher::new(MatchKind::Equal, "__name__", name).unwrap();
    s.db()
        .select(&[m], 0, i64::MAX)
        .unwrap()
        .into_iter()
        .map(|sel| {
            let key = sel.labels.get(by).map(str::to_owned).unwrap_or_default();
            let samples = sel
                .chunks
                .iter()
                .flat_map(|c| xor::decode(&c.data).unwrap())
                .collect();
            (key, samples)
        })
        .collect()
}

/// Samples with stale markers shown as `None`.
fn marked(v: &[(i64, f64)]) -> Vec<(i64, Option<f64>)> {
    v.iter()
        .map(|&(t, x)| (t, (!is_stale(x)).then_some(x)))
        .collect()
}

fn labelled(id: u64, name: &str, k: &str, v: &str) -> SeriesDef {
    let mut d = def(id, name);
    d.labels.push(Label {
        name: k.into(),
        value: v.into(),
    });
    d
}

#[test]
fn stale_nan_is_prometheus_bits_and_only_them() {
    assert_eq!(STALE_NAN.to_bits(), 0x7ff0_0000_0000_0002);
    assert!(is_stale(STALE_NAN));
    assert!(!is_stale(f64::NAN));
    assert!(!is_stale(0.0));
}

#[test]
fn a_series_missing_from_the_next_batch_gets_a_stale_marker_once() {
    let s = NodeStore::default();
    s.open_stream("n", &hello("b"), 0);
    let defs = vec![
        labelled(1, "vm", "domain", "a"),
        labelled(2, "vm", "domain", "b"),
    ];
    s.apply("n", &batch(1, defs), &[(1, 1.0), (2, 1.0)], true, 0);
    // "b" stopped: its series ends at batch 2's time, once.
    let r = s.apply("n", &batch(2, vec![]), &[(1, 2.0)], true, 0);
    assert_eq!(
        r,
        Applied::New {
            samples: 1,
            gap: 0,
            ended: 1,
            refused: Refused::default()
        }
    );
    s.apply("n", &batch(3, vec![]), &[(1, 3.0)], true, 0);
    // "b" comes back: the series goes on.
    s.apply("n", &batch(4, vec![]), &[(1, 4.0), (2, 4.0)], true, 0);
    let got = stored(&s, "vm", "domain");
    assert_eq!(got[0].0, "a");
    assert_eq!(
        marked(&got[0].1),
        [
            (1000, Some(1.0)),
            (2000, Some(2.0)),
            (3000, Some(3.0)),
            (4000, Some(4.0))
        ]
    );
    assert_eq!(got[1].0, "b");
    assert_eq!(
        marked(&got[1].1),
        [(1000, Some(1.0)), (2000, None), (4000, Some(4.0))]
    );
    assert_eq!(s.stale_markers(), 1);
    assert_eq!(s.view(false).nodes[0].series, 2);
}

fn drift(vcpu: &str) -> Finding {
    Finding {
        check: "pinning.affinity_drift".into(),
        severity: Severity::Critical as i32,
        subject: vec![
            Label {
                name: "domain_uuid".into(),
                value: "u-1".into(),
            },
            Label {
                name: "domain_name".into(),
                value: "web-a".into(),
            },
            Label {
                name: "vcpu".into(),
                value: vcpu.into(),
            },
        ],
        message: "vCPU drifted".into(),
    }
}

#[test]
fn findings_become_series_that_end_when_they_clear() {
    let s = NodeStore::default();
    let mut h = hello("b");
    h.labels.push(Label {
        name: "rack".into(),
        value: "r1".into(),
    });
    s.open_stream("n", &h, 0);
    let mut b = batch(1, vec![]);
    b.findings = vec![drift("1")];
    s.apply("n", &b, &[], true, 0);
    let mut b = batch(2, vec![]);
    b.findings = vec![drift("1"), drift("2")];
    s.apply("n", &b, &[], true, 0);
    let v = s.view(false);
    let since: Vec<i64> = v.nodes[0].findings.iter().map(|f| f.since_ms).collect();
    assert_eq!(since, [1000, 2000]);
    s.apply("n", &batch(3, vec![]), &[], true, 0);
    let got = stored(&s, findings::FINDING, "vcpu");
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].0, "1");
    assert_eq!(
        marked(&got[0].1),
        [(1000, Some(1.0)), (2000, Some(1.0)), (3000, None)]
    );
    assert_eq!(got[1].0, "2");
    assert_eq!(marked(&got[1].1), [(2000, Some(1.0)), (3000, None)]);
    let m = Matcher::new(MatchKind::Equal, "vcpu", "1").unwrap();
    let sel = s.db().select(&[m], 0, i64::MAX).unwrap();
    let labels: BTreeMap<&str, &str> = sel[0].labels.pairs().collect();
    assert_eq!(
        labels["node"], "n",
        "the certificate's name, not the hello's"
    );
    assert_eq!(labels["rack"], "r1");
    assert_eq!(labels["check"], "pinning.affinity_drift");
    assert_eq!(labels["severity"], "critical");
    assert_eq!(labels["domain_name"], "web-a");
    assert!(s.view(false).nodes[0].findings.is_empty());
}

#[test]
fn the_finding_bound_comes_from_the_limits() {
    let mut s = NodeStore::default();
    s.set_limits(Limits {
        max_findings_per_check: 1,
        ..Limits::default()
    });
    s.open_stream("n", &hello("b"), 0);
    let mut b = batch(1, vec![]);
    b.findings = vec![drift("1"), drift("2"), drift("3")];
    s.apply("n", &b, &[], true, 0);
    let got = stored(&s, findings::FINDING, "folded");
    let folded: Vec<_> = got.iter().filter(|(f, _)| f == "true").collect();
    assert_eq!(folded.len(), 1);
    assert_eq!(folded[0].1, [(1000, 2.0)]);
    assert_eq!(got.len(), 2);
}

#[test]
fn a_new_agent_instance_ends_what_it_no_longer_sends() {
    let s = NodeStore::default();
    s.open_stream("n", &hello("b1"), 0);
    let defs = vec![
        labelled(1, "vm", "domain", "a"),
        labelled(2, "vm", "domain", "b"),
    ];
    s.apply("n", &batch(1, defs), &[(1, 1.0), (2, 1.0)], true, 0);
    // The node rebooted: new ids; "a" is sent again, "b" is gone.
    s.open_stream("n", &hello("b2"), 0);
    let defs = vec![labelled(7, "vm", "domain", "a")];
    s.apply("n", &batch(2, defs), &[(7, 2.0)], true, 0);
    let got = stored(&s, "vm", "domain");
    assert_eq!(marked(&got[0].1), [(1000, Some(1.0)), (2000, Some(2.0))]);
    assert_eq!(marked(&got[1].1), [(1000, Some(1.0)), (2000, None)]);
}

#[test]
fn a_stale_node_gets_markers_on_every_series_but_liveness_and_findings() {
    let s = NodeStore::default();
    s.open_stream("n", &hello("b"), 0);
    let mut b = batch(1, vec![labelled(1, "vm", "domain", "a")]);
    b.findings = vec![drift("1")];
    s.apply("n", &b, &[(1, 1.0)], true, 1000);
    // Silent past the staleness window while connected: down, series end at the tick.
    assert_eq!(s.record_liveness(5000, 3000, 1000), 0);
    assert_eq!(
        marked(&stored(&s, "vm", "domain")[0].1),
        [(1000, Some(1.0)), (5000, None)]
    );
    // Its open findings age out instead (alerts stay firing under HvscopeNodeDown).
    let f = stored(&s, findings::FINDING, "vcpu");
    assert_eq!(marked(&f[0].1), [(1000, Some(1.0))]);
    // Once only; node_up itself has no marker.
    s.record_liveness(6000, 3000, 1000);
    assert_eq!(s.stale_markers(), 1);
    let up = stored(&s, liveness::NODE_UP, "node");
    assert_eq!(marked(&up[0].1), [(5000, Some(0.0)), (6000, Some(0.0))]);
    // Back: the series go on.
    let mut b = batch(2, vec![]);
    b.timestamp_ms = 7000;
    b.findings = vec![drift("1")];
    s.apply("n", &b, &[(1, 2.0)], true, 7000);
    assert_eq!(
        marked(&stored(&s, "vm", "domain")[0].1),
        [(1000, Some(1.0)), (5000, None), (7000, Some(2.0))]
    );
}

fn limits(series: usize) -> Limits {
    Limits {
        max_series_per_node: series,
        max_labels_per_series: 4,
        max_label_name_bytes: 8,
        max_label_value_bytes: 16,
        max_defs_per_batch: 3,
        max_samples_per_batch: 5,
        ..Limits::default()
    }
}

fn refused_of(a: &Applied) -> Refused {
    match a {
        Applied::New { refused, .. } => *refused,
        other => panic!("{other:?}"),
    }
}

#[test]
fn limits_refuse_bad_definitions_and_keep_the_rest() {
    let mut s = NodeStore::default();
    s.set_limits(limits(100));
    s.open_stream("n", &hello("b"), 0);
    let mut many = def(2, "many");
    for k in ["a", "b", "c", "d"] {
        many.labels.push(Label {
            name: k.into(),
            value: "v".into(),
        });
    }
    let r = s.apply(
        "n",
        &batch(
            1,
            vec![
                def(1, "ok"),
                many,
                labelled(3, "long", "k", &"v".repeat(17)),
                labelled(4, "name", "verylongname", "v"),
            ],
        ),
        &[(1, 1.0), (2, 1.0), (3, 1.0)],
        true,
        0,
    );
    let refused = refused_of(&r);
    assert_eq!(
        refused.series,
        [0, 1, 0, 1, 1, 0],
        "labels per series, value length, and the 4th definition over defs_per_batch"
    );
    assert_eq!(
        refused.samples_of_refused, 2,
        "no resend asked for refused series"
    );
    assert!(matches!(r, Applied::New { samples: 1, .. }));
    let why = refused.reason(s.limits());
    assert!(why.contains("labels_per_series (limit 4)"), "{why}");
    assert!(why.contains("label_value_length (limit 16)"), "{why}");
    // Samples beyond the batch limit are cut.
    let r = s.apply("n", &batch(2, vec![]), &[(1, 2.0); 7], true, 0);
    assert_eq!(refused_of(&r).samples_over_batch, 2);
    assert_eq!(check_labels(&[], &limits(1)), None);
}

#[test]
fn the_series_limit_holds_until_ended_series_are_forgotten() {
    let mut s = NodeStore::default();
    s.set_limits(limits(2));
    s.open_stream("n", &hello("b"), 0);
    let r = s.apply(
        "n",
        &batch(1, vec![def(1, "a"), def(2, "b"), def(3, "c")]),
        &[(1, 1.0), (2, 1.0), (3, 1.0)],
        true,
        0,
    );
    assert_eq!(
        refused_of(&r).series[LimitReason::SeriesPerNode as usize],
        1
    );
    // Redefining a held id is no new series.
    let r = s.apply(
        "n",
        &batch(2, vec![def(2, "b")]),
        &[(1, 2.0), (2, 2.0)],
        true,
        0,
    );
    assert!(refused_of(&r).is_empty());
    // "b" ends (batch 3 lacks it); forgotten after FORGET_ENDED_MS, then "c" fits.
    s.apply("n", &batch(3, vec![]), &[(1, 3.0)], true, 0);
    assert_eq!(s.forget_ended(3000 + FORGET_ENDED_MS - 1), 0);
    assert_eq!(s.forget_ended(3000 + FORGET_ENDED_MS + 1), 1);
    let r = s.apply(
        "n",
        &batch(4, vec![def(3, "c")]),
        &[(1, 4.0), (3, 4.0)],
        true,
        0,
    );
    assert!(refused_of(&r).is_empty(), "{r:?}");
    assert!(matches!(r, Applied::New { samples: 2, .. }));
    // Another node is not affected by this one's limit.
    s.open_stream("m", &hello("b"), 0);
    let r = s.apply(
        "m",
        &batch(1, vec![def(1, "a"), def(2, "b")]),
        &[(1, 1.0), (2, 1.0)],
        true,
        0,
    );
    assert!(refused_of(&r).is_empty());
}

#[test]
fn refusals_are_logged_once_per_reason() {
    let mut n = Node::default();
    let mut r = Refused::default();
    r.series[LimitReason::SeriesPerNode as usize] = 3;
    assert!(n.first_refusals(&r));
    assert!(!n.first_refusals(&r));
    r.samples_over_batch = 1;
    assert!(n.first_refusals(&r));
    assert!(!n.first_refusals(&r));
}

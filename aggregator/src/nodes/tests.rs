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
        Applied::New { samples: 1, gap: 0 }
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
        Applied::New { samples: 1, gap: 0 }
    );
    assert_eq!(
        s.apply("n", &batch(5, vec![]), &[(2, 2.0)], true, 0),
        Applied::New { samples: 1, gap: 3 }
    );
}

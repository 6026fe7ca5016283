//! The decoder against real captures: `agent/tests/fixtures/ovs/openflow{13,10}_*.bin` are
//! what ovs-vswitchd 3.1 sent for the fixture's 37 br-int flows (see that directory's
//! SCENARIO.md); rendered, they must equal the fixture's `ovs-ofctl` dumps line for line.
//! Then known byte vectors for the messages we send, negotiation, and malformed input (every
//! truncation, random corruption): errors or `unknown…`, never a panic.

use super::flow::FlowText;
use super::wire::{self, Entries, Framer, Message};
use super::*;
use crate::ovs::flow::{Line, parse_line};
use crate::ovs::testdata::{FLOWS_OF10, FLOWS_OF13};

const CAP13: &[u8] =
    include_bytes!("../../../../agent/tests/fixtures/ovs/openflow13_flow-stats_br-int.bin");
const CAP10: &[u8] =
    include_bytes!("../../../../agent/tests/fixtures/ovs/openflow10_nxst-flow_br-int.bin");

/// Every flow of a capture (reply messages back to back), rendered; errors as text.
fn render_all(version: u8, cap: &[u8]) -> Result<Vec<String>, OfError> {
    let mut f = Framer::new();
    let buf = f.spare(cap.len());
    buf.copy_from_slice(cap);
    f.filled(cap.len(), cap.len());
    let mut text = FlowText::new();
    let mut out = vec![];
    while let Some(m) = f.next_message()? {
        if let Message::FlowStats { entries, .. } = wire::classify(version, m)? {
            for e in Entries::new(version, entries) {
                out.push(FlowText::line(&text.render(&e?)?));
            }
        }
    }
    Ok(out)
}

fn fixture_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| match parse_line(l).unwrap() {
            Line::Flow(f) => Some(FlowText::line(&f)),
            _ => None,
        })
        .collect()
}

#[test]
fn captures_render_as_the_fixture_dumps() {
    assert_eq!(render_all(OFP13, CAP13).unwrap(), fixture_lines(FLOWS_OF13));
    assert_eq!(render_all(OFP10, CAP10).unwrap(), fixture_lines(FLOWS_OF10));
    let l = render_all(OFP13, CAP13).unwrap();
    assert!(
        l.iter()
            .any(|l| l.contains("push_vlan:0x8100,set_field:4097->vlan_vid"))
    );
}

#[test]
fn messages_we_send() {
    let mut b = vec![];
    wire::hello(&[OFP10, OFP13], 1, &mut b);
    assert_eq!(
        b,
        [4, 0, 0, 16, 0, 0, 0, 1, 0, 1, 0, 8, 0, 0, 0, 0x12],
        "hello 1.3 with bitmap {{1.0, 1.3}}"
    );
    b.clear();
    wire::hello(&[OFP10], 1, &mut b);
    assert_eq!(b, [1, 0, 0, 8, 0, 0, 0, 1]);
    b.clear();
    wire::flow_stats_request(OFP13, 2, &mut b);
    assert_eq!(b.len(), 56);
    assert_eq!(&b[..12], [4, 18, 0, 56, 0, 0, 0, 2, 0, 1, 0, 0]);
    assert_eq!(&b[48..], [0, 1, 0, 4, 0, 0, 0, 0]);
    b.clear();
    wire::flow_stats_request(OFP10, 2, &mut b);
    assert_eq!(
        b,
        [
            1, 16, 0, 32, 0, 0, 0, 2, 0xff, 0xff, 0, 0, 0, 0, 0x23, 0x20, 0, 0, 0, 0, 0, 0, 0, 0,
            0xff, 0xff, 0, 0, 0xff, 0, 0, 0
        ]
    );
    b.clear();
    wire::flow_monitor_request(1, 3, &mut b);
    assert_eq!(b.len(), 40);
    assert_eq!(
        &b[..20],
        [
            1, 16, 0, 40, 0, 0, 0, 3, 0xff, 0xff, 0, 0, 0, 0, 0x23, 0x20, 0, 0, 0, 2
        ]
    );
    assert_eq!(
        &b[24..],
        [0, 0, 0, 1, 0, 0x0e, 0xff, 0xff, 0, 0, 0xff, 0, 0, 0, 0, 0]
    );
    let mut reply = b.clone();
    reply[1] = wire::OFPT10_STATS_REPLY;
    reply.truncate(24);
    reply[3] = 24;
    assert!(wire::is_flow_monitor_reply(&reply, 3) && !wire::is_flow_monitor_reply(&reply, 4));
    b.clear();
    wire::echo_reply(&[4, 2, 0, 12, 0, 0, 0, 9, 1, 2, 3, 4], &mut b);
    assert_eq!(b, [4, 3, 0, 12, 0, 0, 0, 9, 1, 2, 3, 4]);
}

#[test]
fn negotiation() {
    let ours = [OFP10, OFP13];
    // ovs-vswitchd's hello: version 6 with a bitmap of what the bridge allows
    let peer = |bitmap: u32| {
        let mut m = vec![6, 0, 0, 16, 0, 0, 0, 7, 0, 1, 0, 8];
        m.extend_from_slice(&bitmap.to_be_bytes());
        m
    };
    assert_eq!(wire::negotiate(&ours, &peer(0x7e)), Ok(OFP13));
    assert_eq!(wire::negotiate(&ours, &peer(0x02)), Ok(OFP10));
    assert!(matches!(
        wire::negotiate(&ours, &peer(0x20)),
        Err(OfError::NoCommonVersion { .. })
    ));
    // no bitmap: the lower header version, if we speak it
    assert_eq!(wire::negotiate(&ours, &[4, 0, 0, 8, 0, 0, 0, 1]), Ok(OFP13));
    assert_eq!(wire::negotiate(&ours, &[1, 0, 0, 8, 0, 0, 0, 1]), Ok(OFP10));
    assert!(wire::negotiate(&ours, &[3, 0, 0, 8, 0, 0, 0, 1]).is_err());
    assert!(wire::negotiate(&ours, &[4, 2, 0, 8, 0, 0, 0, 1]).is_err());
    assert!(wire::negotiate(&ours, &[4, 0, 0, 12, 0, 0, 0, 1, 0, 1, 0, 2]).is_err());
}

#[test]
fn split_reads_and_errors() {
    // the capture fed in pieces of every small size gives the same flows
    let whole = render_all(OFP13, CAP13).unwrap();
    for step in [1usize, 7, 8, 100, 4096] {
        let mut f = Framer::new();
        let mut text = FlowText::new();
        let mut n = 0;
        for chunk in CAP13.chunks(step) {
            let b = f.spare(step);
            b[..chunk.len()].copy_from_slice(chunk);
            f.filled(step, chunk.len());
            while let Some(m) = f.next_message().unwrap() {
                if let Message::FlowStats { entries, .. } = wire::classify(OFP13, m).unwrap() {
                    for e in Entries::new(OFP13, entries) {
                        assert_eq!(FlowText::line(&text.render(&e.unwrap()).unwrap()), whole[n]);
                        n += 1;
                    }
                }
            }
        }
        assert_eq!(n, whole.len());
        assert!(f.capacity() < 4 * wire::MAX_MSG, "{}", f.capacity());
    }
    let err = wire::classify(OFP13, &[4, 1, 0, 12, 0, 0, 0, 2, 0, 1, 0, 6]).unwrap();
    assert_eq!(
        err,
        Message::Error {
            xid: 2,
            kind: 1,
            code: 6
        }
    );
    assert!(wire::Header::peek(&[4, 0, 0, 3, 0, 0, 0, 0]).is_err());
    assert_eq!(wire::Header::peek(&[4, 0, 0]), Ok(None));
}

/// The entries of the first reply of a capture.
fn first_entries(version: u8, cap: &[u8]) -> &[u8] {
    let len = u16::from_be_bytes([cap[2], cap[3]]) as usize;
    match wire::classify(version, &cap[..len]).unwrap() {
        Message::FlowStats { entries, .. } => entries,
        m => panic!("{m:?}"),
    }
}

#[test]
fn every_truncation_and_corruption_is_an_error_or_unknown_never_a_panic() {
    for (v, cap) in [(OFP13, CAP13), (OFP10, CAP10)] {
        let entries = first_entries(v, cap);
        let mut text = FlowText::new();
        for cut in 0..entries.len() {
            for raw in Entries::new(v, &entries[..cut]).flatten() {
                let _ = text.render(&raw);
            }
        }
        let mut rng = fastrand::Rng::with_seed(18);
        for _ in 0..3000 {
            let mut b = entries.to_vec();
            for _ in 0..rng.usize(1..6) {
                let i = rng.usize(..b.len());
                b[i] = rng.u8(..);
            }
            for raw in Entries::new(v, &b).flatten() {
                if let Ok(f) = text.render(&raw) {
                    let _ = FlowText::line(&f);
                }
            }
            let _ = wire::classify(v, &b);
            let _ = wire::negotiate(&[OFP10, OFP13], &b);
        }
    }
}

/// One OpenFlow 1.3 entry around `fields` (OXM TLVs) and `program` (instructions).
fn entry13(fields: &[u8], program: &[u8]) -> Vec<u8> {
    let mlen = 4 + fields.len();
    let pad = mlen.div_ceil(8) * 8 - mlen;
    let len = 48 + mlen + pad + program.len();
    let mut e = vec![];
    e.extend_from_slice(&(len as u16).to_be_bytes());
    e.extend_from_slice(&[7, 0]);
    e.extend_from_slice(&[0; 8]); // durations
    e.extend_from_slice(&100u16.to_be_bytes());
    e.extend_from_slice(&[0; 10]); // timeouts, flags, pad
    e.extend_from_slice(&0x42u64.to_be_bytes());
    e.extend_from_slice(&[0; 16]); // counters
    e.extend_from_slice(&[0, 1]);
    e.extend_from_slice(&(mlen as u16).to_be_bytes());
    e.extend_from_slice(fields);
    e.extend(std::iter::repeat_n(0, pad));
    e.extend_from_slice(program);
    e
}

fn apply(actions: &[u8]) -> Vec<u8> {
    let mut i = vec![0, 4];
    i.extend_from_slice(&((8 + actions.len()) as u16).to_be_bytes());
    i.extend_from_slice(&[0; 4]);
    i.extend_from_slice(actions);
    i
}

#[test]
fn unknown_fields_actions_and_instructions_are_kept_as_unknown() {
    // OXM in_port=5, an unknown standard OXM field (class 0x8000, field 120), then actions:
    // output:5, an unknown action type 99, an unknown Nicira subtype 200, a foreign vendor
    let fields = [
        0x80,
        0,
        0,
        4,
        0,
        0,
        0,
        5, //
        0x80,
        0,
        120 << 1,
        2,
        0xab,
        0xcd,
    ];
    let mut acts = vec![0, 0, 0, 16, 0, 0, 0, 5, 0xff, 0xff, 0, 0, 0, 0, 0, 0];
    acts.extend_from_slice(&[0, 99, 0, 8, 0, 0, 0, 0]);
    acts.extend_from_slice(&[
        0xff, 0xff, 0, 16, 0, 0, 0x23, 0x20, 0, 200, 0, 0, 0, 0, 0, 0,
    ]);
    acts.extend_from_slice(&[0xff, 0xff, 0, 8, 0, 0, 0x15, 0x55]);
    let mut program = apply(&acts);
    program.extend_from_slice(&[0, 1, 0, 8, 9, 0, 0, 0]); // goto_table:9
    program.extend_from_slice(&[0, 77, 0, 8, 0, 0, 0, 0]); // unknown instruction
    let e = entry13(&fields, &program);
    let raw = Entries::new(OFP13, &e).next().unwrap().unwrap();
    let mut text = FlowText::new();
    let f = text.render(&raw).unwrap();
    assert_eq!(f.matches, "priority=100,in_port=5,unknown_field=0x8000f002");
    assert_eq!(
        f.actions,
        "output:5,unknown_action(type=99),unknown_nx_action(subtype=200),\
         unknown_action(experimenter=0x1555),goto_table:9,unknown_instruction"
    );
    assert_eq!((f.cookie, f.table), (0x42, crate::ovs::flow::Table::Id(7)));
    assert_eq!(text.unknown, 5);
    // no instructions: drop; an action running past its instruction: an error
    let e = entry13(&[], &[]);
    let raw = Entries::new(OFP13, &e).next().unwrap().unwrap();
    let f = text.render(&raw).unwrap();
    assert_eq!((f.matches, f.actions), ("priority=100", "drop"));
    let e = entry13(&[], &apply(&[0, 0, 0, 64, 0, 0, 0, 5]));
    let raw = Entries::new(OFP13, &e).next().unwrap().unwrap();
    assert!(text.render(&raw).is_err());
}

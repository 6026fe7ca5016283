//! Fuzzes what an authenticated agent can send: an `AgentMessage` protobuf (hello or batch)
//! decoded as tonic does, sample unpacking, and application to the node store and the TSDB in
//! both modes (strict first attempt, lenient resend), then liveness and the JSON view.
#![no_main]

use std::sync::Arc;

use hvscope_aggregator::nodes::NodeStore;
use hvscope_aggregator::tsdb::Db;
use hvscope_proto::v1::{AgentMessage, Hello, agent_message};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let store = NodeStore::with_db(Arc::new(Db::new(i64::MAX)));
    store.open_stream("n1", &Hello::default(), 1);
    // Several messages: each 2-byte length prefix (LE) then the message.
    let mut rest = data;
    let mut now = 10;
    while rest.len() >= 2 {
        let len = u16::from_le_bytes([rest[0], rest[1]]) as usize;
        let body = &rest[2..(2 + len).min(rest.len())];
        rest = &rest[(2 + len).min(rest.len())..];
        let Ok(msg) = AgentMessage::decode(body) else {
            continue;
        };
        now += 1_000;
        match msg.msg {
            Some(agent_message::Msg::Hello(h)) => {
                store.open_stream("n1", &h, now);
            }
            Some(agent_message::Msg::Batch(b)) => {
                let Ok(samples) = hvscope_proto::unpack_samples(&b) else {
                    continue;
                };
                store.apply("n1", &b, &samples, true, now);
                store.apply("n1", &b, &samples, false, now);
            }
            None => {}
        }
    }
    store.record_liveness(now, 60_000, 30_000);
    let _ = store.view(true);
    let _ = store.db().stats();
});

//! Fuzzes the OVSDB side: the JSON-RPC framer over arbitrary chunks, and the reply decoder and a
//! monitor replica (as a monitor reply, then as an update notification) over whatever JSON
//! comes out of it.
#![no_main]

use hvscope_parse::ovs::framer::Framer;
use hvscope_parse::ovs::ovsdb::{Replica, decode_interface, decode_reply};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |b| *b as usize % (data.len().max(1)));
    let mut framer = Framer::new(1 << 16);
    for chunk in [&data[..split], &data[split..]] {
        match framer.feed(chunk) {
            Ok(msgs) => {
                let mut db = Replica::default();
                for m in msgs {
                    let _ = decode_reply(&m);
                    let _ = db.apply(&m["result"]);
                    let _ = db.apply(&m["params"][1]);
                    let _ = db.topology();
                    if let Some(rows) = m.pointer("/result/0/rows").and_then(|r| r.as_array()) {
                        for r in rows {
                            let _ = decode_interface(r);
                        }
                    }
                }
            }
            Err(_) => break,
        }
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = decode_reply(&v);
    }
});

//! Fuzzes the OVSDB side: the JSON-RPC framer over arbitrary chunks and the reply decoder over
//! whatever JSON comes out of it.
#![no_main]

use hvscope_parse::ovs::framer::Framer;
use hvscope_parse::ovs::ovsdb::{decode_interface, decode_reply};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |b| *b as usize % (data.len().max(1)));
    let mut framer = Framer::new(1 << 16);
    for chunk in [&data[..split], &data[split..]] {
        match framer.feed(chunk) {
            Ok(msgs) => {
                for m in msgs {
                    let _ = decode_reply(&m);
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

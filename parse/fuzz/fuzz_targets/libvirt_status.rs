//! libvirt status files (`run/libvirt/qemu/<name>.xml`, `<domstatus>` around the live
//! `<domain>`, nova metadata) and nova.conf's CPU sets. Never panic; what parses is coherent.
#![no_main]

use hvscope_parse::libvirt::{novaconf, xml};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(d) = xml::parse_status(text) {
        let _ = serde_json::to_string(&d).expect("domain serializes");
    }
    let _ = novaconf::parse(text);
});

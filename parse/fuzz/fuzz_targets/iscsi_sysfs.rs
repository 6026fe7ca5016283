//! The iSCSI sysfs parsers over arbitrary text: state strings, `H:C:T:L` and session names,
//! udev by-path names, and the lexical link resolution (which must stay below the root).
#![no_main]

use std::path::{Component, Path};

use hvscope_parse::iscsi::sysfs;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(st) = sysfs::SessionState::parse(s) {
        assert_eq!(sysfs::SessionState::parse(st.as_str()), Some(st));
    }
    if let Some(st) = sysfs::ConnState::parse(s) {
        assert_eq!(sysfs::ConnState::parse(st.as_str()), Some(st));
    }
    let _ = sysfs::parse_hctl(s);
    let _ = sysfs::session_number(s);
    if let Some(b) = sysfs::parse_by_path(s) {
        assert!(!b.portal.is_empty() && !b.target.is_empty());
    }
    let (link, target) = s.split_once('\n').unwrap_or((s, s));
    let r = sysfs::resolve_link(Path::new(link), Path::new(target));
    assert!(
        r.components().all(|c| matches!(c, Component::Normal(_))),
        "{r:?}"
    );
    let _ = sysfs::session_device_dir(&r);
});

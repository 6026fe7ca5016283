//! The root filesystem's layout and the mount behind a path, from any mount table the parser
//! accepts. Never panics.
#![no_main]

use hvscope_agent::sources::rootfs;
use hvscope_parse::proc::mounts;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = mounts::parse(text) {
        let _ = rootfs::layout(&m);
        let _ = rootfs::mount_of(&m, "/run/x");
        let _ = rootfs::mount_of(&m, "/");
    }
});

//! The agent is shipped as a static musl binary baked into a RAM-only image: it must have no
//! ELF interpreter and no shared-library dependencies, and stay small (it costs every node RAM).
//!
//! Size limit: 8 MiB stripped. Measured 2026-11-23 (see the foundation issue note): the agent
//! with tokio, tonic/h2, rustls+ring, prost and the host parsers is ~4 MiB; the limit leaves room
//! for the libvirt/OVS/iSCSI sources (pure parsers, a few hundred KiB each) while failing on an
//! accidental heavy dependency (a second TLS stack, a C library).

use hvscope_e2e::{in_ci, target_dir};

const SIZE_LIMIT: u64 = 8 << 20;

fn u16le(b: &[u8], o: usize) -> u64 {
    u16::from_le_bytes([b[o], b[o + 1]]) as u64
}
fn u32le(b: &[u8], o: usize) -> u64 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) as u64
}
fn u64le(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}

/// (has PT_INTERP, number of DT_NEEDED entries) of a 64-bit little-endian ELF file.
fn elf_dynamic_facts(b: &[u8]) -> (bool, usize) {
    assert_eq!(&b[..4], b"\x7fELF", "not ELF");
    assert_eq!(b[4], 2, "not 64-bit");
    let phoff = u64le(b, 0x20) as usize;
    let phentsize = u16le(b, 0x36) as usize;
    let phnum = u16le(b, 0x38) as usize;
    let mut interp = false;
    let mut needed = 0;
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        let p_type = u32le(b, ph);
        if p_type == 3 {
            interp = true;
        }
        if p_type == 2 {
            let off = u64le(b, ph + 8) as usize;
            let size = u64le(b, ph + 32) as usize;
            for e in (off..off + size).step_by(16) {
                match u64le(b, e) {
                    0 => break,
                    1 => needed += 1,
                    _ => {}
                }
            }
        }
    }
    (interp, needed)
}

#[test]
fn musl_agent_is_static_and_small() {
    let release = target_dir()
        .parent()
        .unwrap()
        .join("x86_64-unknown-linux-musl/release/hvscope-agent");
    if !release.exists() {
        let msg = format!(
            "{} missing: build it with `cargo build --release --target x86_64-unknown-linux-musl -p hvscope-agent` (tests/run does)",
            release.display()
        );
        assert!(!in_ci(), "{msg}");
        eprintln!("SKIPPED (not CI): {msg}");
        return;
    }
    let bytes = std::fs::read(&release).unwrap();
    let (interp, needed) = elf_dynamic_facts(&bytes);
    assert!(!interp, "has an ELF interpreter: dynamically linked");
    assert_eq!(needed, 0, "depends on shared libraries");
    let size = bytes.len() as u64;
    eprintln!("hvscope-agent (musl, release, stripped): {size} bytes");
    assert!(
        size <= SIZE_LIMIT,
        "agent binary is {size} bytes, limit {SIZE_LIMIT}"
    );
}

#[test]
fn the_elf_check_tells_dynamic_from_static() {
    // This test binary itself is dynamically linked against glibc.
    let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    let (interp, needed) = elf_dynamic_facts(&me);
    assert!(interp && needed > 0);
}

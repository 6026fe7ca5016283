//! Processes, for daemon liveness: `/proc/<pid>/stat` (comm and state) and
//! `/proc/<pid>/cmdline` (NUL-separated argv). Zombies do not count as running: PID 1 may reap
//! lazily and a dead daemon then lingers as `Z`.

use crate::ParseError;

/// What identifies a process for liveness.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Process {
    pub pid: u32,
    /// `comm`: the executable name, truncated by the kernel to 15 bytes.
    pub comm: String,
    /// One-letter state (`R`, `S`, `D`, `Z`, …).
    pub state: char,
    /// argv; empty for kernel threads, and where the process scan did not need it (its comm
    /// names the process already).
    pub argv: Vec<String>,
}

/// `comm` and state from the text of `/proc/<pid>/stat`. The comm is between the first `(`
/// and the last `)`, since it may itself contain parentheses and spaces.
pub fn parse_stat(text: &str) -> Result<(String, char), ParseError> {
    let open = text
        .find('(')
        .ok_or_else(|| ParseError::new("stat without '('"))?;
    let close = text
        .rfind(')')
        .filter(|c| *c > open)
        .ok_or_else(|| ParseError::new("stat without ')'"))?;
    let state = text[close + 1..]
        .split_ascii_whitespace()
        .next()
        .and_then(|s| {
            let mut c = s.chars();
            c.next()
                .filter(|ch| ch.is_ascii_alphabetic() && c.next().is_none())
        })
        .ok_or_else(|| ParseError::new("stat without a state letter"))?;
    Ok((text[open + 1..close].to_owned(), state))
}

/// argv from the bytes of `/proc/<pid>/cmdline` (NUL-separated, NUL-terminated; a process
/// that rewrote its title may use spaces instead). Invalid UTF-8 is replaced, not refused.
pub fn parse_cmdline(bytes: &[u8]) -> Vec<String> {
    let bytes = bytes.strip_suffix(b"\0").unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

fn basename(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

impl Process {
    /// True unless the process is a zombie or dead.
    pub fn is_alive(&self) -> bool {
        !matches!(self.state, 'Z' | 'X' | 'x')
    }

    /// True when this process is an instance of daemon `name`: its comm is `name` (as the
    /// kernel truncates it), or argv[0]'s file name is `name`, or it is an interpreter
    /// (`python3 /usr/bin/nova-compute`) whose first non-option argument's file name is `name`.
    pub fn is_named(&self, name: &str) -> bool {
        let truncated = name.get(..name.len().min(15)).unwrap_or(name);
        if self.comm == truncated {
            return true;
        }
        let Some(arg0) = self.argv.first() else {
            return false;
        };
        // A rewritten title ("nova-compute: worker") keeps the name as its first word.
        let arg0 = arg0.split([' ', ':']).next().unwrap_or(arg0);
        if basename(arg0) == name {
            return true;
        }
        let interp = basename(arg0);
        let is_interp = ["python", "perl", "ruby", "sh", "bash", "node"]
            .iter()
            .any(|p| interp.starts_with(p));
        is_interp
            && self.argv[1..]
                .iter()
                .find(|a| !a.starts_with('-'))
                .is_some_and(|a| basename(a) == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str =
        include_str!("../../../agent/tests/fixtures/libvirt-kvm-2vm/proc/25453/stat");
    const CMDLINE: &[u8] =
        include_bytes!("../../../agent/tests/fixtures/libvirt-kvm-2vm/proc/25453/cmdline");

    #[test]
    fn parses_real_capture() {
        let (comm, state) = parse_stat(STAT).unwrap();
        assert_eq!(comm, "qemu-system-x86");
        assert!(state.is_ascii_alphabetic());
        let argv = parse_cmdline(CMDLINE);
        assert_eq!(argv[0], "/usr/bin/qemu-system-x86_64");
        assert!(argv.iter().any(|a| a == "-name"));
        let p = Process {
            pid: 25453,
            comm,
            state,
            argv,
        };
        assert!(p.is_named("qemu-system-x86_64"));
        assert!(p.is_named("qemu-system-x86"));
        assert!(!p.is_named("libvirtd"));
    }

    #[test]
    fn odd_comms_and_interpreters() {
        assert_eq!(
            parse_stat("1 (a) b) (c) S 0").unwrap(),
            ("a) b) (c".into(), 'S')
        );
        for bad in ["", "1 a S", "1 (a S", "1 (a)", "1 (a) 5", "1 )a( S"] {
            assert!(parse_stat(bad).is_err(), "{bad:?}");
        }
        let py = Process {
            pid: 2,
            comm: "python3".into(),
            state: 'S',
            argv: parse_cmdline(b"/usr/bin/python3\0-u\0/usr/bin/nova-compute\0--config-file\0x\0"),
        };
        assert!(py.is_named("nova-compute"));
        assert!(!py.is_named("x"));
        let zombie = Process {
            state: 'Z',
            ..py.clone()
        };
        assert!(!zombie.is_alive() && py.is_alive());
        let titled = Process {
            comm: "x".into(),
            argv: vec!["ovsdb-server: monitoring pid 5".into()],
            ..py
        };
        assert!(titled.is_named("ovsdb-server"));
        assert!(parse_cmdline(b"").is_empty());
        assert_eq!(parse_cmdline(b"a\xff\0b"), vec!["a\u{fffd}", "b"]);
    }
}

//! The CPU sets nova-compute is configured with: `[compute] cpu_dedicated_set` and
//! `cpu_shared_set` of `etc/nova/nova.conf` (oslo.config INI; nova's range syntax with `^`
//! exclusions). Pure.

use crate::cpuset::CpuSet;

/// Nova's CPU partitioning of this host.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct NovaCpuSets {
    /// CPUs for pinned (dedicated) instance vCPUs.
    pub dedicated: Option<CpuSet>,
    /// CPUs for unpinned vCPUs and emulator threads.
    pub shared: Option<CpuSet>,
}

/// Parses nova.conf text; keys outside `[compute]` are ignored, a bad set is an error.
pub fn parse(text: &str) -> Result<NovaCpuSets, String> {
    let mut section = String::new();
    let mut out = NovaCpuSets::default();
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.trim().to_ascii_lowercase();
            continue;
        }
        if section != "compute" {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"');
        let slot = match k.trim() {
            "cpu_dedicated_set" => &mut out.dedicated,
            "cpu_shared_set" => &mut out.shared,
            _ => continue,
        };
        *slot = Some(CpuSet::parse(v).map_err(|e| e.to_string())?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_compute_section_only() {
        let c = parse(
            "[DEFAULT]\ncpu_dedicated_set = 0\n[compute]\n# pinned guests\ncpu_dedicated_set = 2-7,^4\n\
             cpu_shared_set=0-1\n[libvirt]\nvirt_type = kvm\n",
        )
        .unwrap();
        assert_eq!(c.dedicated, Some(CpuSet::of([2, 3, 5, 6, 7])));
        assert_eq!(c.shared, Some(CpuSet::of([0, 1])));
        assert_eq!(parse("").unwrap(), NovaCpuSets::default());
        assert!(parse("[compute]\ncpu_dedicated_set = x-y").is_err());
    }
}

//! CPU (and NUMA node) sets in the list syntax the kernel (`0-3,8`), libvirt (`0-3,^2,8`) and
//! nova (`cpu_dedicated_set = 2-7,^4`) use. Pure, shared by every source that reads CPU lists.

use std::collections::BTreeSet;
use std::fmt;

/// Largest CPU number accepted: bounds what a hostile list (`0-4294967295`) can allocate.
pub const MAX_CPU: u32 = 65_535;

/// A list did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cpu list {list:?}: {reason}")]
pub struct CpuSetError {
    pub list: String,
    pub reason: &'static str,
}

/// A set of CPU (or node) numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct CpuSet(BTreeSet<u32>);

impl CpuSet {
    /// Parses `0-3,8`, with libvirt/nova `^N` exclusions (`0-7,^3`) and surrounding whitespace.
    /// The empty string is the empty set.
    pub fn parse(list: &str) -> Result<Self, CpuSetError> {
        let err = |reason| CpuSetError {
            list: list.chars().take(64).collect(),
            reason,
        };
        let num = |s: &str| -> Result<u32, CpuSetError> {
            let n: u32 = s.trim().parse().map_err(|_| err("not a number"))?;
            if n > MAX_CPU {
                return Err(err("cpu number too large"));
            }
            Ok(n)
        };
        let mut set = BTreeSet::new();
        let mut exclude = BTreeSet::new();
        for part in list.trim().split(',') {
            let part = part.trim();
            if part.is_empty() {
                if list.trim().is_empty() {
                    continue;
                }
                return Err(err("empty element"));
            }
            let (target, part) = match part.strip_prefix('^') {
                Some(p) => (&mut exclude, p),
                None => (&mut set, part),
            };
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (num(a)?, num(b)?);
                    if a > b {
                        return Err(err("range runs backwards"));
                    }
                    target.extend(a..=b);
                }
                None => {
                    target.insert(num(part)?);
                }
            }
        }
        for x in exclude {
            set.remove(&x);
        }
        Ok(Self(set))
    }

    /// A set of the given numbers.
    pub fn of(cpus: impl IntoIterator<Item = u32>) -> Self {
        Self(cpus.into_iter().collect())
    }

    pub fn contains(&self, cpu: u32) -> bool {
        self.0.contains(&cpu)
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().copied()
    }
    pub fn is_subset(&self, other: &CpuSet) -> bool {
        self.0.is_subset(&other.0)
    }
    /// The only element, when there is exactly one.
    pub fn single(&self) -> Option<u32> {
        (self.0.len() == 1).then(|| *self.0.first().expect("len 1"))
    }
}

impl fmt::Display for CpuSet {
    /// The kernel's compact form: `0-3,8`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut it = self.0.iter().copied().peekable();
        let mut first = true;
        while let Some(start) = it.next() {
            let mut end = start;
            while it.peek() == Some(&(end + 1)) {
                end = it.next().expect("peeked");
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if start == end {
                write!(f, "{start}")?;
            } else {
                write!(f, "{start}-{end}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kernel_libvirt_and_nova_syntax() {
        assert_eq!(CpuSet::parse("0-3,8").unwrap(), CpuSet::of([0, 1, 2, 3, 8]));
        assert_eq!(
            CpuSet::parse(" 0-7,^3,^5-6\n").unwrap(),
            CpuSet::of([0, 1, 2, 4, 7])
        );
        assert_eq!(CpuSet::parse("").unwrap(), CpuSet::default());
        assert_eq!(CpuSet::parse("\n").unwrap(), CpuSet::default());
        assert_eq!(CpuSet::parse("1").unwrap().single(), Some(1));
        assert_eq!(CpuSet::parse("0-1").unwrap().single(), None);
    }

    #[test]
    fn renders_compactly() {
        assert_eq!(
            CpuSet::of([0, 1, 2, 3, 8, 10, 11]).to_string(),
            "0-3,8,10-11"
        );
        assert_eq!(CpuSet::default().to_string(), "");
    }

    #[test]
    fn rejects_garbage_and_huge() {
        for bad in [
            "a",
            "1-",
            "-1",
            "3-1",
            "1,,2",
            "0-4294967295",
            "99999999999",
            "1-2-3",
        ] {
            assert!(CpuSet::parse(bad).is_err(), "{bad}");
        }
    }
}

//! `/proc/<pid>/task/<tid>/schedstat`: `run_ns wait_ns timeslices`. The second field is time
//! spent runnable but waiting for a CPU: for a vCPU thread it is what libvirt reports as
//! `vcpu.N.delay`, i.e. steal as the guest feels it.

use crate::ParseError;

/// One thread's scheduler statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SchedStat {
    /// Time on a CPU, nanoseconds.
    pub run_ns: u64,
    /// Time runnable but waiting on a run queue, nanoseconds.
    pub wait_ns: u64,
    /// Times scheduled.
    pub timeslices: u64,
}

/// Parses a schedstat file.
pub fn parse(text: &str) -> Result<SchedStat, ParseError> {
    let mut f = text.split_ascii_whitespace().map(|v| {
        v.parse::<u64>()
            .map_err(|_| ParseError::new(format!("schedstat field {v:?} is not a number")))
    });
    let mut next = || {
        f.next()
            .unwrap_or_else(|| Err(ParseError::new("schedstat has fewer than 3 fields")))
    };
    Ok(SchedStat {
        run_ns: next()?,
        wait_ns: next()?,
        timeslices: next()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_vcpu_thread() {
        let s = parse(include_str!(
            "../../../agent/tests/fixtures/libvirt-kvm-2vm/proc/25453/task/25461/schedstat"
        ))
        .unwrap();
        assert_eq!(
            s,
            SchedStat {
                run_ns: 6421645622,
                wait_ns: 20924458163,
                timeslices: 6032
            }
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "1 2", "a b c", "1 2 -3", "18446744073709551616 0 0"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}

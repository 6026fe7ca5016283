//! `/proc/<pid>/task/<tid>/schedstat` (`run_ns wait_ns timeslices`). Never panic; a parsed
//! line prints back to the same three numbers.
#![no_main]

use hvscope_parse::proc::schedstat;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(s) = schedstat::parse(text) {
        let again = format!("{} {} {}\n", s.run_ns, s.wait_ns, s.timeslices);
        assert_eq!(schedstat::parse(&again).expect("round trip"), s);
    }
});

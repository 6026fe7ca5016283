//! `/proc` file formats, one module per file: the host-wide files (`stat`, `meminfo`,
//! `loadavg`, `vmstat`, `pressure/*`, `mounts`, `cmdline`, `diskstats`) and the per-process and per-thread
//! ones (`<pid>/stat`, `<pid>/status`, `<pid>/cmdline`, `<tid>/schedstat`).

pub mod cmdline;
pub mod diskstats;
pub mod loadavg;
pub mod meminfo;
pub mod mounts;
pub mod pidstat;
pub mod pidstatus;
pub mod pressure;
pub mod process;
pub mod schedstat;
pub mod stat;
pub mod vmstat;

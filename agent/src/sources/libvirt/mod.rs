//! libvirt domains from their live status files, never through libvirtd (a hung libvirtd must
//! not hang the agent, and the agent is static: no C library). The status XML, the domain
//! model and nova.conf are parsed by `hvscope_parse::libvirt`.

mod kept;
pub mod reader;
pub mod series;
mod watch;

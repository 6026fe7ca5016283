//! libvirt domains from their live status files, never through libvirtd (a hung libvirtd must
//! not hang the agent, and the agent is static: no C library). The status XML, the domain
//! model and nova.conf are parsed by `hvscope_parse::libvirt`.

mod process;
pub mod reader;
pub mod series;
mod state;
pub mod vm;

pub use hvscope_parse::libvirt::model::Domain;
pub use reader::LibvirtSource;
pub use vm::{Libvirt, Role, Thread, Vm, VmSample};

//! libvirt domains from their live status files, never through libvirtd (a hung libvirtd must
//! not hang the agent, and the agent is static: no C library).

pub mod model;
pub mod novaconf;
mod process;
pub mod reader;
pub mod series;
mod state;
pub mod vm;
pub mod xml;

pub use model::Domain;
pub use reader::LibvirtSource;
pub use vm::{Libvirt, Role, Thread, Vm, VmSample};

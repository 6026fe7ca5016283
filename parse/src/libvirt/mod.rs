//! libvirt's live status files (`run/libvirt/qemu/<name>.xml`, [`xml`]) into the domain model
//! ([`model`]), and the CPU sets of nova-compute's `nova.conf` ([`novaconf`]).

pub mod model;
pub mod novaconf;
pub mod xml;

pub use model::Domain;

//! The kernel iSCSI initiator's sysfs: attribute values and object names ([`sysfs`]).

pub mod sysfs;

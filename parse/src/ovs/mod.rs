//! Open vSwitch, pure half: `ovs-ofctl dump-flows` lines ([`flow`]) and what their actions and
//! matches refer to ([`actions`]), a dump read as a stream of flows from any [`std::io::BufRead`]
//! ([`stream`]), OpenFlow itself ([`openflow`]: the messages of a flow dump, each flow decoded
//! and rendered as the text `ovs-ofctl` prints, so the same [`flow::Flow`] comes out of either),
//! and OVSDB JSON-RPC: the request, the framing of the reply stream ([`framer`]) and its
//! decoding into bridges and interfaces ([`ovsdb`]). The sockets and the `ovs-ofctl` child
//! process are the agent's.

pub mod actions;
pub mod flow;
pub mod framer;
pub mod openflow;
pub mod ovsdb;
pub mod stream;
#[cfg(any(test, feature = "testdata"))]
pub mod testdata;

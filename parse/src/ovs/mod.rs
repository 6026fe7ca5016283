//! Open vSwitch, pure half: `ovs-ofctl dump-flows` lines ([`flow`]) and what their actions and
//! matches refer to ([`actions`]), a dump read as a stream of flows from any [`std::io::BufRead`]
//! ([`stream`]), and OVSDB JSON-RPC: the request, the framing of the reply stream ([`framer`])
//! and its decoding into bridges and interfaces ([`ovsdb`]). The socket and the `ovs-ofctl`
//! child process are the agent's.

pub mod actions;
pub mod flow;
pub mod framer;
pub mod ovsdb;
pub mod stream;
#[cfg(any(test, feature = "testdata"))]
pub mod testdata;

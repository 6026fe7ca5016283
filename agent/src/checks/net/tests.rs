use super::*;
use crate::checks::testtree::TestTree;
use crate::config::Config;

fn net(text: &str) -> NetConfig {
    Config::parse(text, std::path::Path::new("t.toml"))
        .unwrap()
        .net
}

fn run(t: &TestTree, cfg: &NetConfig) -> Vec<Finding> {
    let snap = Snapshot::collect_with(
        &t.root(),
        &Config::parse("[host]\ndaemons=[]", std::path::Path::new("x")).unwrap(),
    );
    let u = Uplinks {
        config: cfg.clone(),
    };
    let mut f = UplinkDown(u.clone()).run(&snap);
    f.extend(UplinksAllDown(u).run(&snap));
    f
}

fn bonded() -> TestTree {
    let t = TestTree::new("net", &[]);
    t.interface("lo", "unknown", Some(true));
    t.interface("eth0", "up", Some(true));
    t.interface("eth1", "up", Some(true));
    t.interface("bond0", "up", Some(true));
    t.write("sys/class/net/bond0/bonding/slaves", "eth0 eth1\n");
    t.write("sys/class/net/eth0/bonding_slave/mii_status", "up\n");
    t.write("sys/class/net/eth1/bonding_slave/mii_status", "up\n");
    t.write("sys/class/net/bonding_masters", "bond0\n");
    t
}

#[test]
fn bond_members_clear_one_down_all_down() {
    let t = bonded();
    for cfg in [
        net(""),
        net("[net]\nuplink_bonds = ['bond0']"),
        net("[net]\nuplinks = ['eth0', 'eth1']"),
    ] {
        assert!(run(&t, &cfg).is_empty(), "{cfg:?}");
    }
    t.interface("eth1", "down", Some(false));
    let f = run(&t, &net(""));
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].check.as_str(), f[0].severity),
        (UplinkDown::ID, Severity::Warning)
    );
    assert_eq!(f[0].subject["interface"], "eth1");
    assert!(f[0].message.contains("no carrier"), "{}", f[0].message);
    t.interface("eth0", "down", None); // admin down: carrier unreadable
    std::fs::remove_file(t.0.join("sys/class/net/eth0/carrier")).unwrap();
    let f = run(&t, &net("[net]\nuplink_bonds = ['bond0']"));
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        (f[0].check.as_str(), f[0].severity),
        (UplinksAllDown::ID, Severity::Critical)
    );
    assert_eq!(f[0].subject["interfaces"], "eth0,eth1");
}

#[test]
fn configured_names_and_missing_things() {
    let t = bonded();
    let f = run(&t, &net("[net]\nuplinks = ['eth0', 'eno9']"));
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].subject["interface"], "eno9");
    assert!(f[0].message.contains("does not exist"));
    let f = run(&t, &net("[net]\nuplink_bonds = ['bond7']"));
    assert_eq!((f.len(), f[0].check.as_str()), (1, UplinksAllDown::ID));
    t.write("sys/class/net/bond0/bonding/slaves", "\n");
    let f = run(&t, &net("[net]\nuplink_bonds = ['bond0']"));
    assert_eq!((f.len(), f[0].severity), (1, Severity::Critical), "{f:?}");
    assert!(f[0].message.contains("no members"));
    // No bonds and nothing configured: nothing to check.
    let plain = TestTree::new("net-plain", &[]);
    plain.interface("eth0", "down", Some(false));
    assert!(run(&plain, &net("")).is_empty());
    // A tree without /sys/class/net: configured uplinks are unknown, not fine.
    let bare = TestTree::new("net-bare", &[]);
    let f = run(&bare, &net("[net]\nuplinks = ['eth0']"));
    assert_eq!((f.len(), f[0].severity), (1, Severity::Unknown));
    assert!(run(&bare, &net("")).is_empty());
}

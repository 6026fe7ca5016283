use super::*;

const A: &str = include_str!(
    "../../../../agent/tests/fixtures/libvirt-kvm-2vm/run/libvirt/qemu/instance-0000002a.xml"
);
const B: &str = include_str!(
    "../../../../agent/tests/fixtures/libvirt-kvm-2vm/run/libvirt/qemu/instance-0000002b.xml"
);

#[test]
fn real_status_files() {
    let a = parse_status(A).unwrap();
    assert_eq!(a.name, "instance-0000002a");
    assert_eq!(a.uuid, "3b9f6d2e-8c41-4a7f-9e15-2d6c0a4b7f11");
    assert_eq!(a.state, "running");
    assert_eq!(a.pid, Some(25453));
    assert_eq!(a.id, Some(21));
    assert_eq!(a.vcpus, 2);
    assert_eq!(a.vcpu_threads, BTreeMap::from([(0, 25461), (1, 25462)]));
    assert_eq!(a.memory_bytes, 128 << 20);
    assert_eq!(a.cputune.vcpupin[&0], CpuSet::of([0]));
    assert_eq!(a.cputune.vcpupin[&1], CpuSet::of([1]));
    assert_eq!(a.cputune.emulatorpin, Some(CpuSet::of([0, 1])));
    assert_eq!(a.cputune.shares, Some(2048));
    assert_eq!(a.disks.len(), 1);
    assert_eq!(a.disks[0].target, "vda");
    assert!(matches!(&a.disks[0].source, DiskSource::File { path } if path.ends_with("/disk")));
    assert_eq!(a.nics[0].mac, "fa:16:3e:4a:1b:01");
    assert_eq!(a.nics[0].bridge.as_deref(), Some("br-int"));
    assert_eq!(a.nics[0].target_dev.as_deref(), Some("tap4f2b8c1e-6d"));
    assert_eq!(
        a.nics[0].interface_id.as_deref(),
        Some("4f2b8c1e-6d3a-4e7f-a1b2-c3d4e5f60a01")
    );
    let nova = a.nova.as_ref().unwrap();
    assert_eq!(nova.name, "web-a");
    assert_eq!(nova.flavor.name, "c2.dedicated.m128");
    assert_eq!(nova.flavor.vcpus, Some(2));
    assert_eq!(nova.flavor.memory_mib, Some(128));
    assert_eq!(nova.project_name.as_deref(), Some("tenant-alpha"));
    assert_eq!(
        nova.project_id.as_deref(),
        Some("9a1f0c2b3d4e4f5a8b6c7d8e9f0a1b2c")
    );
    assert_eq!(nova.user_name.as_deref(), Some("alice"));
    assert_eq!(nova.root_type.as_deref(), Some("image"));
    assert_eq!(nova.creation_time.as_deref(), Some("2026-11-22 02:40:00"));

    let b = parse_status(B).unwrap();
    assert_eq!(b.cputune.vcpupin[&0], CpuSet::of([1]));
    assert_eq!(b.vcpu_threads, BTreeMap::from([(0, 25481)]));
    assert_eq!(b.nova.unwrap().name, "db-b");
}

const HAND: &str = r#"<domstatus state='paused' reason='migration' pid='4242'>
  <vcpus><vcpu id='0' pid='4250'/><vcpu id='1' pid='4251'/></vcpus>
  <domain type='kvm' id='7'>
    <name>instance-00000099</name>
    <uuid>11111111-2222-3333-4444-555555555555</uuid>
    <metadata>
      <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.0">
        <nova:name>legacy</nova:name>
        <nova:flavor name="m1.pinned">
          <nova:memory>2048</nova:memory>
          <nova:vcpus>2</nova:vcpus>
          <nova:extraSpecs>
            <nova:extraSpec name="hw:cpu_policy">dedicated</nova:extraSpec>
          </nova:extraSpecs>
        </nova:flavor>
        <nova:owner><nova:project uuid="p1">proj</nova:project></nova:owner>
      </nova:instance>
      <other:thing xmlns:other="http://example.com/other"><other:name>nope</other:name></other:thing>
    </metadata>
    <memory unit='GiB'>2</memory>
    <vcpu placement='static' cpuset='4-7,^6'>2</vcpu>
    <memoryBacking><hugepages><page size='2048' unit='KiB'/></hugepages></memoryBacking>
    <cputune>
      <vcpupin vcpu='0' cpuset='4'/>
      <iothreadpin iothread='1' cpuset='7'/>
    </cputune>
    <numatune><memory mode='strict' nodeset='1'/></numatune>
    <devices>
      <disk type='block' device='disk'>
        <source dev='/dev/disk/by-path/ip-10.0.0.5:3260-iscsi-iqn.2010-10.org.openstack:volume-1-lun-1'/>
        <target dev='vdb' bus='virtio'/>
        <serial>volume-1</serial>
      </disk>
      <disk type='network' device='disk'>
        <source protocol='iscsi' name='iqn.2010-10.org.openstack:volume-2/1'>
          <host name='10.0.0.6' port='3260'/>
        </source>
        <target dev='vdc' bus='virtio'/>
      </disk>
      <disk type='file' device='cdrom'><target dev='hdc' bus='ide'/></disk>
      <interface type='bridge'><mac address='FA:16:3E:00:00:01'/><source bridge='br-int'/></interface>
    </devices>
  </domain>
</domstatus>"#;

#[test]
fn namespace_1_0_hugepages_numatune_and_disk_kinds() {
    let d = parse_status(HAND).unwrap();
    assert_eq!(d.state, "paused");
    assert_eq!(d.memory_bytes, 2 << 30);
    assert_eq!(d.vcpu_cpuset, Some(CpuSet::of([4, 5, 7])));
    assert!(d.hugepages);
    assert_eq!(d.cputune.emulatorpin, None);
    assert_eq!(d.cputune.iothreadpin[&1], CpuSet::of([7]));
    assert_eq!(d.numatune.as_ref().unwrap().nodeset, CpuSet::of([1]));
    assert!(matches!(&d.disks[0].source, DiskSource::Block { dev } if dev.contains("-iscsi-")));
    assert_eq!(d.disks[0].serial.as_deref(), Some("volume-1"));
    assert!(matches!(&d.disks[1].source,
        DiskSource::Network { protocol, hosts, .. } if protocol == "iscsi" && hosts[0] == ("10.0.0.6".into(), 3260)));
    assert_eq!(d.disks[2].source, DiskSource::None);
    assert_eq!(d.disks[2].device, "cdrom");
    assert_eq!(d.nics[0].mac, "fa:16:3e:00:00:01");
    let nova = d.nova.unwrap();
    assert_eq!(nova.name, "legacy");
    assert_eq!(nova.flavor.extra_specs["hw:cpu_policy"], "dedicated");
    assert_eq!(nova.project_name.as_deref(), Some("proj"));
    assert_eq!(nova.user_name, None);
}

#[test]
fn plain_domain_without_metadata() {
    let d = parse_status(
        "<domain type='kvm'><name>x</name><uuid>u</uuid><vcpu>1</vcpu><memory>1024</memory></domain>",
    )
    .unwrap();
    assert_eq!(d.state, "");
    assert_eq!(d.pid, None);
    assert_eq!(d.memory_bytes, 1 << 20);
    assert!(d.nova.is_none());
}

#[test]
fn garbage_truncated_and_hostile_input_is_an_error() {
    let truncated = &A[..A.len() / 2];
    let billion_laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<domain><name>&lol2;</name><uuid>u</uuid></domain>"#;
    let huge_attr = format!(
        "<domstatus pid='{}'><domain/></domstatus>",
        "9".repeat(1 << 20)
    );
    let many: String = std::iter::once("<domain><name>n</name><uuid>u</uuid><devices>".to_owned())
        .chain((0..(MAX_NODES as usize)).map(|_| "<x/>".to_owned()))
        .chain(std::iter::once("</devices></domain>".to_owned()))
        .collect();
    for bad in [
        "",
        "not xml",
        truncated,
        billion_laughs,
        &huge_attr,
        &many,
        "<foo/>",
        "<domstatus state='running'/>",
        "<domain><uuid>u</uuid></domain>",
        "<domstatus pid='x'><domain><name>n</name><uuid>u</uuid></domain></domstatus>",
        "<domain><name>n</name><uuid>u</uuid><vcpu>two</vcpu></domain>",
        "<domain><name>n</name><uuid>u</uuid><memory unit='parsec'>1</memory></domain>",
        "<domain><name>n</name><uuid>u</uuid><memory unit='TiB'>99999999999</memory></domain>",
        "<domain><name>n</name><uuid>u</uuid><cputune><vcpupin vcpu='0' cpuset='0-99999999'/></cputune></domain>",
        "<domain><name>n</name><uuid>u</uuid><cputune><vcpupin cpuset='0'/></cputune></domain>",
    ] {
        assert!(
            parse_status(bad).is_err(),
            "{:?}",
            &bad[..bad.len().min(80)]
        );
    }
}

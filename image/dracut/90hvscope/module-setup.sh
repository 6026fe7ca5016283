#!/bin/bash
# dracut module: puts the hvscope agent into images built with dracut (initramfs-only diskless
# images, or dracut-built rootfs images). image/build copies this file next to the binary, the
# systemd unit and the default configuration; install that directory as
# /usr/lib/dracut/modules.d/90hvscope and add `add_dracutmodules+=" hvscope "`.

check() {
    # Only when asked for: the agent belongs to hypervisor images, not every initramfs.
    return 255
}

depends() {
    echo systemd network
    return 0
}

install() {
    inst_simple "$moddir/hvscope-agent" /usr/bin/hvscope-agent
    inst_simple "$moddir/hvscope-agent.service" "$systemdsystemunitdir/hvscope-agent.service"
    inst_simple "$moddir/agent.toml" /etc/hvscope/agent.toml
    $SYSTEMCTL -q --root "$initdir" enable hvscope-agent.service
}

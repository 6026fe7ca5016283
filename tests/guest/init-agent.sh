#!/bin/busybox sh
# /init of the boot test's diskless guest: bring up the network (QEMU user-mode, the aggregator is
# reached at 10.0.2.100 through guestfwd), then run the agent exactly as the image ships it:
# /usr/bin/hvscope-agent with /etc/hvscope/agent.toml and the kernel command line's
# hvscope.aggregator= / hvscope.rack=.
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $(cat /mods/order); do insmod /mods/$m.ko 2>/dev/null; done
ip link set lo up; ip link set eth0 up; ip addr add 10.0.2.15/24 dev eth0
echo "HVSCOPE-GUEST init uptime=$(cut -d' ' -f1 /proc/uptime)"
RUST_LOG=info /usr/bin/hvscope-agent run --config /etc/hvscope/agent.toml --wait-for-config-secs 600
echo "HVSCOPE-GUEST agent exited with $?"
poweroff -f

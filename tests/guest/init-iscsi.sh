#!/bin/busybox sh
# /init of the iSCSI guest test: a diskless node with the kernel initiator. Logs in to two
# targets (portals 10.0.2.100 and 10.0.2.101, both forwarded by QEMU's guestfwd to one tgtd on
# the host), then runs the agent's `check --format json` three times, each between markers on
# the serial console: both sessions up; the second portal blackholed (its session FAILED);
# the route restored (logged in again). The test on the host judges the agent's output; this
# script only drives the phases and waits for the kernel to reach each state.
T1=iqn.2026-11.test.hvscope:disk1
T2=iqn.2026-11.test.hvscope:disk2
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mkdir -p /dev/pts /run/lock /var/lock; mount -t devpts devpts /dev/pts
dmesg -n 1   # keep kernel messages (iSCSI connection errors) off the console the test parses
for m in $(cat /mods/order); do insmod /mods/$m.ko || echo "HVSCOPE-GUEST insmod $m failed"; done
ip link set lo up; ip link set eth0 up; ip addr add 10.0.2.15/24 dev eth0
echo "HVSCOPE-GUEST init uptime=$(cut -d' ' -f1 /proc/uptime)"

/sbin/iscsid -f >/tmp/iscsid.log 2>&1 &
sleep 1   # iscsid listens on an abstract socket: nothing to poll for
login() {  # target portal
  /sbin/iscsiadm -m node -o new -T "$1" -p "$2" >/dev/null
  for kv in node.conn[0].timeo.noop_out_interval=1 node.conn[0].timeo.noop_out_timeout=2 \
            node.session.timeo.replacement_timeout=120; do
    /sbin/iscsiadm -m node -T "$1" -p "$2" -o update -n "${kv%%=*}" -v "${kv#*=}"
  done
  /sbin/iscsiadm -m node -T "$1" -p "$2" --login >/dev/null || echo "HVSCOPE-GUEST login $1 failed"
}
login $T1 10.0.2.100:3260
login $T2 10.0.2.101:3260

# state_of TARGET: the kernel state of the session logged in to TARGET.
state_of() {
  for s in /sys/class/iscsi_session/session*; do
    [ "$(cat $s/targetname 2>/dev/null)" = "$1" ] && { cat $s/state; return; }
  done
  echo NONE
}
# wait_for TARGET STATE SECONDS: poll until TARGET's session is in STATE and its disk is there.
wait_for() {
  n=$(( $3 * 5 ))
  while [ $n -gt 0 ]; do
    [ "$(state_of $1)" = "$2" ] && return 0
    sleep 0.2; n=$((n - 1))
  done
  echo "HVSCOPE-GUEST timeout waiting for $1 $2 (is $(state_of $1))"
}
# Disks appear after the LUN scan.
wait_disks() {
  for i in $(seq 1 50); do [ "$(ls /sys/block | grep -c '^sd')" -ge 2 ] && return; sleep 0.2; done
}
# This guest runs iscsid and nothing else a compute node would: only it is a required daemon.
mkdir -p /etc/hvscope
printf '[host]\ndaemons = ["iscsid"]\n' > /etc/hvscope/guest-check.toml
check() {  # phase
  echo "HVSCOPE-GUEST phase=$1 t1=$(state_of $T1) t2=$(state_of $T2) uptime=$(cut -d' ' -f1 /proc/uptime)"
  out=$(/usr/bin/hvscope-agent check --format json --config /etc/hvscope/guest-check.toml 2>/tmp/agent.err); rc=$?
  echo "HVSCOPE-CHECK-BEGIN $1"
  echo "$out"
  echo "HVSCOPE-CHECK-END $1 rc=$rc"
  # The series the same agent derives, so "no findings" cannot pass by seeing no sessions.
  /usr/bin/hvscope-agent snapshot --format prometheus 2>/dev/null \
    | grep '^hvscope_iscsi_session_up' | sed "s/^/HVSCOPE-SERIES $1 /"
}

wait_for $T1 LOGGED_IN 20; wait_for $T2 LOGGED_IN 20; wait_disks
check up

ip route add blackhole 10.0.2.101/32
wait_for $T2 FAILED 30
check down

ip route del blackhole 10.0.2.101/32
wait_for $T2 LOGGED_IN 40; wait_disks
check restored

echo "HVSCOPE-GUEST done uptime=$(cut -d' ' -f1 /proc/uptime)"
/sbin/iscsiadm -m node --logoutall=all >/dev/null 2>&1
poweroff -f

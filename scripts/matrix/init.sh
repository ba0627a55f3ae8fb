#!/bin/busybox sh
# /init of a kernel-matrix guest (scripts/kernel-matrix): mount what the agent and the tests
# use, run the guest runner, power off. Its output is the console (ttyS0); results go to ttyS1.
bb=/bin/busybox
$bb mount -t proc proc /proc
$bb mount -t sysfs sysfs /sys
$bb mount -t devtmpfs devtmpfs /dev
$bb mkdir -p /dev/pts /dev/shm /run /tmp
$bb mount -t devpts devpts /dev/pts
$bb mount -t tmpfs tmpfs /dev/shm
$bb mount -t tmpfs tmpfs /run
$bb mount -t bpf bpf /sys/fs/bpf
$bb mount -t cgroup2 cgroup2 /sys/fs/cgroup
$bb mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
$bb mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
$bb hostname matrix
$bb ip link set lo up
export PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=dumb PYTHONUNBUFFERED=1
cd /repo
echo "matrix: runner starts at uptime $($bb cut -d' ' -f1 /proc/uptime) s"
/opt/venv/bin/python3 /repo/scripts/matrix/guest.py /opt/matrix/config.json
echo "matrix: runner exited with status $?"
$bb sync
$bb poweroff -f

#!/bin/sh
# /init of the test VM (L1) for the boot family when kpatchkit.claims launches it itself:
# mount what KVM statistics and QEMU need, run the plan, power off.
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t debugfs none /sys/kernel/debug
mkdir -p /tmp && mount -t tmpfs -o size=90% tmp /tmp
echo "L1 up: $(cut -d' ' -f1 /proc/uptime)s, $(grep MemTotal /proc/meminfo)"
[ -c /dev/kvm ] || echo "KPK-BOOT-INFRA no /dev/kvm in the test VM" > /dev/ttyS1
/claims/boot.sh /claims/plan /dev/ttyS1
sync
poweroff -f

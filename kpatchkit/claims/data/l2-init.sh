#!/bin/busybox sh
# /init of the L2 guest (on its ext2 IDE disk, or in the diskless initramfs).
# Reads /data through the page cache: with swiotlb=force every block is bounced, and the bounce
# first reads the destination page-cache page (fresh guest memory) and then writes it: the
# read-then-write that costs the L1 KVM host a retried TDP fault per page on the base kernel.
/bin/busybox mount -t proc proc /proc
# The kernel mounts devtmpfs itself only for a disk root, not for an initramfs.
[ -e /dev/ttyS0 ] || /bin/busybox mount -t devtmpfs dev /dev
if [ -f /data ]; then
    /bin/busybox cat /data > /dev/null || echo KPK-L2-FAIL read
fi
echo "KPK-L2-DONE $(/bin/busybox cut -d' ' -f1 /proc/uptime)" > /dev/ttyS0
/bin/busybox poweroff -f

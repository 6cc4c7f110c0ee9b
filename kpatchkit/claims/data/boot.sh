#!/bin/sh
# In-guest (L1) driver of the "boot" scenario, run by busybox sh inside the test VM.
# Usage: boot.sh PLAN OUT
#   PLAN: one boot per line: "firmware thp vcpus mem_mb guest rep timeout_s"
#   OUT:  where result lines go (the results channel, e.g. /dev/ttyS1)
# L2: QEMU's default CPU model (qemu64; '-cpu host' stalled the L2's timers under nested TCG),
# swiotlb=4096,force: every DMA bounces through an 8 MB pool (the default 64 MB pool is zeroed at
# boot, which only adds 16k write faults that no kernel retries).
# Each boot: set THP, start the L2 VM with the carried QEMU (-accel kvm, -no-shutdown so the VM
# and its debugfs directory outlive the guest's poweroff), wait for the L2 init's marker and the
# shutdown, read /sys/kernel/debug/kvm/<pid>-<fd>/*, then quit QEMU through its monitor.
# One line per boot:  KPK-BOOT key=value ...  (stats are the per-VM sums over vCPUs).
PLAN=$1
OUT=$2
C=/claims
export TMPDIR=/tmp
QEMU="$C/lib/ld-linux-x86-64.so.2 --library-path $C/lib $C/bin/qemu-system-x86_64"
grep -q " /sys/kernel/debug " /proc/mounts || mount -t debugfs none /sys/kernel/debug
emit() { echo "$*" > "$OUT"; }  # stdout is only dumped when the whole test ends
uptime_s() { cut -d' ' -f1 /proc/uptime; }

# Numeric files of a per-VM debugfs dir as " name=value ...".
read_stats() {
    s=""
    for f in "$1"/*; do
        [ -f "$f" ] || continue
        read -r v < "$f" 2>/dev/null || continue  # builtin: no fork per file under TCG
        case "$v" in ''|*[!0-9]*) continue ;; esac
        s="$s ${f##*/}=$v"
    done
    echo "$s"
}

if [ ! -c /dev/kvm ]; then
    emit "KPK-BOOT-INFRA no /dev/kvm in the test VM (kvm_amd did not load?)"
    exit 1
fi
emit "KPK-BOOT-START kernel=$(uname -r) thp_default=$(cat /sys/kernel/mm/transparent_hugepage/enabled | tr ' ' ,)"
while read -r fw thp vcpus mem guest rep tmo; do
    case "$fw" in ''|'#'*) continue ;; esac
    echo "$thp" > /sys/kernel/mm/transparent_hugepage/enabled
    # Start from the same free-memory state each time.
    echo 3 > /proc/sys/vm/drop_caches 2>/dev/null
    W=/tmp/l2-$fw-$thp-$rep
    rm -rf "$W"; mkdir -p "$W"
    mkfifo "$W/mon.in" "$W/mon.out"
    case "$fw" in
        seabios) BIOS="$C/share/bios-256k.bin" ;;
        ovmf) BIOS="$C/share/OVMF.fd" ;;
    esac
    APPEND="console=ttyS0 panic=-1 nokaslr quiet"
    case "$guest" in
        ide-swiotlb) DISK="-drive file=$C/l2/disk.img,if=ide,format=raw"
                     APPEND="$APPEND root=/dev/sda ro rootfstype=ext2 init=/init swiotlb=4096,force" ;;
        ide)         DISK="-drive file=$C/l2/disk.img,if=ide,format=raw"
                     APPEND="$APPEND root=/dev/sda ro rootfstype=ext2 init=/init" ;;
        diskless)    DISK="-initrd $C/l2/initrd.cpio.gz" ;;
    esac
    t0=$(uptime_s)
    # shellcheck disable=SC2086
    $QEMU -accel kvm -cpu qemu64 -M pc -smp "$vcpus" -m "$mem" -L $C/share -bios "$BIOS" \
        -nodefaults -nographic -vga none -no-reboot -no-shutdown -net none \
        -kernel $C/l2/bzImage -append "$APPEND" $DISK \
        -serial "file:$W/console" -monitor "pipe:$W/mon" > "$W/qemu.log" 2>&1 &
    qpid=$!
    cat "$W/mon.out" > "$W/mon.log" &
    cpid=$!
    dir=""
    last=""
    status=timeout
    n=0
    while [ $n -lt "$tmo" ]; do
        sleep 1
        n=$((n + 1))
        [ -z "$dir" ] && dir=$(ls -d /sys/kernel/debug/kvm/${qpid}-* 2>/dev/null | head -n1)
        if ! kill -0 "$qpid" 2>/dev/null; then status=qemu-exited; break; fi
        # A fallback reading in case QEMU dies before the final one (every 5 s: cheap).
        [ -n "$dir" ] && [ $((n % 5)) -eq 0 ] && last=$(read_stats "$dir")
        # Ask QEMU whether the guest powered off (-no-shutdown keeps the VM and its stats).
        echo "info status" > "$W/mon.in"
        if grep -q "shutdown" "$W/mon.log" 2>/dev/null; then
            if grep -q KPK-L2-DONE "$W/console" 2>/dev/null; then status=ok
            else status=guest-failed; fi
            break
        fi
        if grep -q -E "Kernel panic|KPK-L2-FAIL" "$W/console" 2>/dev/null; then
            status=guest-failed; break
        fi
    done
    t1=$(uptime_s)
    [ -n "$dir" ] && [ "$status" != qemu-exited ] && last=$(read_stats "$dir")
    echo quit > "$W/mon.in"
    i=0
    while kill -0 "$qpid" 2>/dev/null && [ $i -lt 10 ]; do sleep 1; i=$((i + 1)); done
    kill -9 "$qpid" "$cpid" 2>/dev/null
    wait "$qpid" 2>/dev/null
    l2t=$(grep -o 'KPK-L2-DONE [0-9.]*' "$W/console" 2>/dev/null | cut -d' ' -f2)
    err=$(tail -c 300 "$W/qemu.log" | tr '\n ' '|_')
    emit "KPK-BOOT firmware=$fw thp=$thp vcpus=$vcpus mem=$mem guest=$guest rep=$rep status=$status seconds=$(echo "$t1 $t0" | awk '{printf "%.1f", $1-$2}') l2_uptime=${l2t:-na} qemu_err=${err:-none}$last"
    if [ "$status" != ok ]; then
        tail -c 2000 "$W/console" 2>/dev/null | sed 's/^/l2-console: /'
    fi
    rm -rf "$W"
done < "$PLAN"
emit "KPK-BOOT-END"

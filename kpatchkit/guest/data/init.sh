#!/bin/busybox sh
# kpatchkit guest init: run /tests/list (NAME|TIMEOUT|PROGRAM ARGS...) one test at a time with a
# per-test timeout; write TAP, KVM debugfs counters and dmesg to the results channel (ttyS1),
# mark each test in the kernel log so splats on the console (ttyS0) can be attributed.
# 'kpatchkit.only=2,5,9' on the kernel command line runs only those lines of the list (1-based,
# in list order): one guest of a run sharded over several (kpatchkit/guest/shard.py).
# 'kpatchkit.queue=1' instead asks the host for each next line on ttyS2 ("next" -> a line number
# or "done"), so several guests share one kernel's tests as they become free (guest/dispatch.py);
# the TAP plan then comes at the end.
/bin/busybox --install -s /bin
export PATH=/bin:/tests
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug
mkdir -p /dev/shm /tmp /dev/hugepages
mount -t tmpfs -o size=512m tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t hugetlbfs hugetlbfs /dev/hugepages 2>/dev/null
R=/dev/ttyS1
stty -F $R raw -echo 2>/dev/null
exec 3>$R
say() { echo "$*" >&3; }
kmsg() { echo "kpatchkit: $*" > /dev/kmsg; }
# Hundredths of a second since boot. "1${frac} - 100" keeps a fraction like 09 from being read as
# octal (uptime below 1 s made "098" an arithmetic syntax error and killed init).
now() { read up _ < /proc/uptime; echo $(( ${up%.*} * 100 + 1${up#*.} - 100 )); }
# The same into $T without a subshell, and a 0.2 s wait with no process: the loop below runs
# five times a second beside every test on the guest's one CPU, and under TCG each fork+exec
# of "$(now)" and "sleep" cost the test real time.
tick() { read up _ < /proc/uptime; T=$(( ${up%.*} * 100 + 1${up#*.} - 100 )); }
mkfifo /tmp/.tick
exec 5<>/tmp/.tick
STATS="@STATS@"
D=/sys/kernel/debug/kvm
say "KPATCHKIT-RESULTS-BEGIN"
say "# kpatchkit-guest kernel=$(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo) tdp_mmu=$(cat /sys/module/kvm/parameters/tdp_mmu 2>/dev/null)"
ONLY=""
QUEUE=""
for w in $(cat /proc/cmdline); do
	case "$w" in
	kpatchkit.only=*) ONLY="${w#kpatchkit.only=}" ;;
	kpatchkit.queue=1) QUEUE=1 ;;
	esac
done
say "TAP version 13"
i=0
# One test: $name, $timeout, $cmd set; TAP point number $i.
run_test() {
	i=$((i + 1))
	say "# kpatchkit-begin $name"
	kmsg "begin $name"
	start=$(now)
	limit=$((start + timeout * 100))
	/tests/$cmd > /tmp/out 2>&1 < /dev/null 3>&- 4>&- 5>&- &
	pid=$!
	state=done
	peak=""
	while kill -0 $pid 2>/dev/null; do
		cur=""
		for s in $STATS; do
			v=0
			[ -r $D/$s ] && read -r v < $D/$s
			cur="$cur $s=$v"
		done
		case "$cur" in *=[1-9]*) peak="$cur" ;; esac
		tick
		if [ "$T" -gt "$limit" ]; then
			kill -9 $pid 2>/dev/null
			state=timeout
			break
		fi
		read -t 0.2 _ <&5
	done
	wait $pid
	rc=$?
	end=$(now)
	kmsg "end $name"
	sed 's/^/    /' /tmp/out >&3
	el=$((end - start))
	say "# kpatchkit-stats $name seconds=$((el / 100)).$(printf %02d $((el % 100))) exit=$rc$peak"
	if [ $state = timeout ]; then
		say "not ok $i $name # TIMEOUT after ${timeout}s"
	elif [ $rc -eq 0 ]; then
		say "ok $i $name"
	elif [ $rc -eq 4 ]; then
		say "ok $i $name # SKIP exit 4 (KSFT_SKIP)"
	else
		say "not ok $i $name # exit=$rc"
	fi
}
if [ -n "$QUEUE" ]; then
	C=/dev/ttyS2
	stty -F $C raw -echo 2>/dev/null
	exec 4<>$C
	while :; do
		echo next >&4
		read -r n <&4 || break
		case "$n" in '' | *[!0-9]*) break ;; esac
		IFS='|' read -r name timeout cmd <<-EOF
			$(sed -n "${n}p" /tests/list)
		EOF
		[ -n "$name" ] && run_test
	done
	say "1..$i"
else
	if [ -n "$ONLY" ]; then
		say "1..$(echo "$ONLY" | tr ',' '\n' | grep -c .)"
	else
		say "1..$(grep -c . /tests/list)"
	fi
	line=0
	while IFS='|' read -r name timeout cmd; do
		[ -n "$name" ] || continue
		line=$((line + 1))
		if [ -n "$ONLY" ]; then
			case ",$ONLY," in *",$line,"*) ;; *) continue ;; esac
		fi
		run_test
	done < /tests/list
fi
say "# kpatchkit-dmesg-begin"
dmesg | sed 's/^/# /' >&3
say "# kpatchkit-dmesg-end"
say "KPATCHKIT-RESULTS-END"
sync
reboot -f

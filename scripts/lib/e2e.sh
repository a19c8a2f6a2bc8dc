# shellcheck shell=bash
# Containers, network and waiting for scripts/e2e and scripts/e2e-cluster;
# their tests are in e2e-tests.sh and e2e-cluster-tests.sh. Uses the
# caller's globals: hosts, run, work, tree, pid1, nspawn, addr, start, and
# journal_units (the units whose journal a failure shows; default the two
# daemons).

die() {
	echo "e2e: FAIL: $*" >&2
	exit 1
}

# prerequisites: what the containers need on this machine.
prerequisites() {
	local missing=()
	command -v debootstrap >/dev/null || missing+=(debootstrap)
	command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
	command -v ip >/dev/null || missing+=(iproute2)
	if ((${#missing[@]})); then
		apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
	fi
}

step() { printf '\n== %s (%ss)\n' "$*" "$((SECONDS - start))"; }

# on HOST CMD...: run CMD inside HOST's container.
on() {
	local h=$1
	shift
	nsenter -t "${pid1[$h]}" -a -- "$@"
}

# wait_for SECONDS DESCRIPTION CMD...: poll CMD until it succeeds.
wait_for() {
	local limit=$1 what=$2 deadline
	shift 2
	deadline=$((SECONDS + limit))
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || die "timed out after ${limit}s waiting for: $what"
		sleep 0.25
	done
}

# network: a bridge in namespace $run-lan, and per host a namespace with
# eth0 cabled to it. Everything lives in namespaces this run created.
network() {
	local i=0 h ns
	ip netns add "$run-lan"
	ip -n "$run-lan" link add br0 type bridge
	ip -n "$run-lan" link set br0 up
	for h in "${hosts[@]}"; do
		i=$((i + 1))
		ns=$run-$h
		addr[$h]=192.0.2.$((10 + i))
		ip netns add "$ns"
		ip -n "$run-lan" link add "port$i" type veth peer name eth0 netns "$ns"
		ip -n "$run-lan" link set "port$i" master br0 up
		ip -n "$ns" addr add "${addr[$h]}/24" dev eth0
		ip -n "$ns" link set eth0 up
		ip -n "$ns" link set lo up
	done
}

# boot HOST: an overlay of the bookworm tree, booted with systemd.
boot() {
	local h=$1 dir=$work/$h other
	mkdir -p "$dir/upper" "$dir/work" "$dir/root"
	mount -t overlay overlay -o "lowerdir=$tree,upperdir=$dir/upper,workdir=$dir/work" "$dir/root"
	echo "$h" >"$dir/root/etc/hostname"
	{
		echo "127.0.0.1 localhost"
		for other in "${hosts[@]}"; do echo "${addr[$other]} $other"; done
	} >"$dir/root/etc/hosts"
	setsid systemd-nspawn -b --register=no --keep-unit --console=passive \
		-D "$dir/root" --machine="$run-$h" --hostname="$h" \
		--network-namespace-path="/run/netns/$run-$h" \
		--bind-ro="$work/debs:/debs" --bind-ro="$work/share:/e2e" \
		>"$dir/nspawn.log" 2>&1 &
	nspawn[$h]=$!
}

# wait_booted HOST: find the container's init (PID 1 in its namespace) and
# wait for systemd to finish booting.
wait_booted() {
	local h=$1
	wait_for 30 "$h: container init" container_init "$h"
	pid1[$h]=$(container_init "$h")
	wait_for 90 "$h: systemd booted" booted "$h"
}

# container_init HOST: nspawn's child that is PID 1 in its own namespace.
container_init() {
	local p
	for p in $(pgrep -P "${nspawn[$1]}"); do
		if grep -qP '^NSpid:\t\d+\t1$' "/proc/$p/status" 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# booted HOST: systemd finished starting ("degraded" too: a unit this test
# does not use may fail in a container).
booted() {
	local state
	state=$(on "$1" systemctl is-system-running --wait 2>/dev/null) || true
	[[ $state == running || $state == degraded ]]
}

# teardown: on failure the journals first, then every container, mount and
# namespace of this run.
teardown() {
	local rc=$? h u units=()
	set +e
	for u in ${journal_units:-posteed-controller postee-runner}; do units+=(-u "$u"); done
	if ((rc != 0)); then
		for h in "${hosts[@]}"; do
			[[ -n ${pid1[$h]:-} ]] || continue
			echo "--- journal of $h (last 40 lines)"
			on "$h" journalctl --no-pager -n 40 "${units[@]}" 2>/dev/null
		done
	fi
	for h in "${hosts[@]}"; do
		[[ -n ${nspawn[$h]:-} ]] && kill -TERM "${nspawn[$h]}" 2>/dev/null
	done
	for h in "${hosts[@]}"; do
		[[ -n ${nspawn[$h]:-} ]] || continue
		for _ in $(seq 100); do kill -0 "${nspawn[$h]}" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "${nspawn[$h]}" 2>/dev/null
	done
	wait 2>/dev/null
	for h in "${hosts[@]}"; do
		mountpoint -q "$work/$h/root" && umount "$work/$h/root"
		ip netns del "$run-$h" 2>/dev/null
	done
	ip netns del "$run-lan" 2>/dev/null
	if [[ -n ${E2E_KEEP:-} ]]; then
		echo "e2e: work directory kept: $work"
	else
		rm -rf "$work"
	fi
	((rc == 0)) || echo "e2e: FAILED after $((SECONDS - start))s"
	exit "$rc"
}

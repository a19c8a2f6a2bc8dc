# shellcheck shell=bash
# The tests of scripts/e2e-cluster, and the README's "Scaling out" steps
# they follow; helpers (on, wait_for, die, step) in e2e.sh.

# share: what the containers read from /e2e (read-only): the Postee config,
# the findings, the HTTP sink's CGI script, the scp stand-in.
share() {
	local d=$work/share i
	mkdir -p "$d/events" "$d/bin"
	cp scripts/lib/e2e-cluster-cfg.yaml "$d/cfg.yaml"
	finding local l1 nats-1 >"$d/events/l1.json"
	finding local l2 nats-1 >"$d/events/l2.json"
	finding local l3 nats-1 >"$d/events/l3.json"
	finding local l4 nats-1 >"$d/events/l4.json"
	finding origin o1 nats-1 >"$d/events/o1.json"
	finding origin o2 nats-2 >"$d/events/o2.json"
	for ((i = 1; i <= burst; i++)); do
		finding burst "b$i" "$(burst_host "$i")" >"$d/events/b$i.json"
	done
	cat >"$d/sink" <<-'EOF'
		#!/bin/sh
		# busybox httpd CGI: one line per request body, in one write (the
		# controllers post at once).
		printf '%s\n' "$(head -c "${CONTENT_LENGTH:-0}")" >>/srv/sink/log
		printf 'Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nok\n'
	EOF
	cat >"$d/bin/scp" <<-'EOF'
		#!/bin/sh
		# scp FILE... HOST:/DIR for scripts/e2e-cluster: the files are queued
		# in /var/tmp/e2e-scp, and copied into HOST by the test's courier
		# before this returns.
		set -eu
		for to; do :; done
		case $to in *:/*) ;; *) echo "scp: want FILE... HOST:/DIR, got $to" >&2; exit 1 ;; esac
		req=/var/tmp/e2e-scp/$$
		mkdir -p "$req/${to%%:*}${to#*:}"
		while [ $# -gt 1 ]; do
			cp -- "$1" "$req/${to%%:*}${to#*:}/"
			shift
		done
		: >"$req.ready"
		i=0
		until [ -e "$req.done" ]; do
			i=$((i + 1))
			[ "$i" -le 300 ] || { echo "scp: nothing delivered in 30 s" >&2; exit 1; }
			sleep 0.1
		done
		status=$(cat "$req.done")
		rm -rf "$req" "$req.done"
		[ "$status" = ok ] || { echo "scp: $status" >&2; exit 1; }
	EOF
	chmod 0755 "$d/sink" "$d/bin/scp"
}

# The burst of test 5: finding bI names host nats-1 or nats-2 and is posted
# to the controller of nats-1, nats-2 or nats-3.
burst=120
burst_host() { echo "nats-$(($1 % 2 + 1))"; }
burst_controller() { echo "nats-$(($1 % 3 + 1))"; }

# finding MARK SEQ HOST: the sample Tracee finding from HOST, marked for a
# route, with a number of its own.
finding() {
	sed -e "0,/{/s//{\"e2e\": \"$1\", \"seq\": \"$2\",/" -e "s/\"hostName\": \"[^\"]*\"/\"hostName\": \"$3\"/" \
		testdata/events/tracee-finding.json
}

# readme_block NAME: the fenced block after "<!-- e2e-cluster: NAME -->" in
# README.md, without the list item's indentation.
readme_block() {
	local text
	text=$(awk -v marker="<!-- e2e-cluster: $1 -->" '
		index($0, marker) { found = 1; next }
		found && !open && /^ *```/ { open = 1; match($0, /^ */); indent = RLENGTH; next }
		open && /^ *```$/ { exit }
		open { print substr($0, indent + 1) }
	' README.md)
	[[ -n $text ]] || die "README.md has no block \"$1\""
	printf '%s\n' "$text"
}

# readme_run HOST NAME [SED]: run the README's shell block NAME on HOST as
# root in /root, edited by the sed expression SED (for the second runner).
readme_run() {
	local h=$1 name=$2 script
	script=$(readme_block "$name")
	[[ -z ${3:-} ]] || script=$(sed "$3" <<<"$script")
	echo "-- $h: README block \"$name\""
	on "$h" env PATH=/e2e/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		bash -euo pipefail -c "cd /root; $script" 2>&1 | sed 's/^/    /'
}

# readme_file HOST NAME PATH [SED]: the README's block NAME is the file PATH
# on HOST. readme_append: added to the end of the file.
readme_file() {
	local h=$1 name=$2 path=$3
	echo "-- $h: README block \"$name\" is $path"
	readme_block "$name" | sed "${4:-}" >"$work/$h/root$path"
	chmod 0644 "$work/$h/root$path"
}

readme_append() {
	echo "-- $1: README block \"$2\" added to $3"
	readme_block "$2" >>"$work/$1/root$3"
}

# courier: the scp stand-in's other half, in the background while the
# containers run: each queued request's files into their hosts, where the
# directory must exist, as for scp.
courier() {
	local h r
	while kill -0 "${nspawn[${hosts[0]}]}" 2>/dev/null; do
		for h in "${hosts[@]}"; do
			for r in "$work/$h/root/var/tmp/e2e-scp/"*.ready; do
				[[ -e $r ]] || continue
				deliver "$h" "${r%.ready}" >"${r%.ready}.out" 2>&1 || true
				rm -f "$r"
				mv "${r%.ready}.out" "${r%.ready}.done"
			done
		done
		sleep 0.1
	done
}

# deliver FROM REQUEST: prints ok, or what went wrong.
deliver() {
	local req=$2 to f
	for to in "$req"/*; do
		to=${to##*/}
		[[ -d $work/$to/root ]] || { echo "$to: no such host"; return; }
		while IFS= read -r f; do
			[[ -d $work/$to/root/${f%/*} ]] || { echo "$to:/${f%/*}: no such directory"; return; }
			cp --preserve=mode "$req/$to/$f" "$work/$to/root/$f" || { echo "$to:/$f: copy failed"; return; }
		done < <(cd "$req/$to" && find . -type f -printf '%P\n')
	done
	echo ok
}

# scale_out: the README's "Scaling out", steps 1 to 7, on nats-1..3.
scale_out() {
	local h edit
	for h in "${hosts[@]}"; do
		# Step 1: the binary the operator fetched, then the README's lines.
		install -m 0755 "$work/nats-server" "$work/$h/root/root/nats-server"
		readme_run "$h" nats-server-install
		nats_version_ok "$h"
		readme_file "$h" nats-server.service /etc/systemd/system/nats-server.service
		# Step 2: as in "Install".
		apt_install "$h" posteed-controller
	done

	readme_run nats-1 pki
	for h in "${hosts[@]}"; do readme_run "$h" files; done

	for h in "${hosts[@]}"; do
		readme_file "$h" nats-server.conf /etc/nats-server/nats-server.conf
		readme_run "$h" nats-server-start
	done
	for h in "${hosts[@]}"; do wait_for 60 "$h: nats-server /healthz ok" nats_healthy "$h"; done
	echo "ok: the three nats-servers answer /healthz: $(on nats-1 curl -sS http://127.0.0.1:8222/healthz)"

	# Step 5: the operator's cfg.yaml on nats-1, then the README's.
	install -m 0644 "$work/share/cfg.yaml" "$work/nats-1/root/etc/postee/cfg.yaml"
	readme_append nats-1 controller.toml /etc/postee/controller.toml
	readme_run nats-1 controller-copy
	sink nats-3
	for h in nats-1 nats-2; do readme_run "$h" controller-start; done

	# Step 6: postee-runner-1 on nats-1, postee-runner-2 on nats-2.
	for h in nats-1 nats-2; do
		edit=
		[[ $h == nats-2 ]] && edit=s/postee-runner-1/postee-runner-2/g
		apt_install "$h" postee-runner
		readme_run "$h" runner-files "$edit"
		readme_file "$h" runner.toml /etc/postee/runner.toml "$edit"
		readme_run "$h" runner-start
	done

	wait_for 60 "both runners connected with the current config" runners_ok nats-1 2
	readme_run nats-1 check
	wait_for 30 "nats-1: status line with 2 controllers" status_has nats-1 "2 controllers, 2 runners connected"
	echo "ok: nats-1: $(status nats-1)"
}

# nats_version_ok HOST: the nats-server installed is 2.10 or later.
nats_version_ok() {
	local v
	v=$(on "$1" nats-server --version)
	if [[ ! $v =~ v2\.([0-9]+)\. ]] || ((BASH_REMATCH[1] < 10)); then
		die "$1: $v, want 2.10 or later"
	fi
}

nats_healthy() { on "$1" curl -fsS http://127.0.0.1:8222/healthz; }

# sink HOST: the busybox HTTP sink the controllers' http action posts to.
sink() {
	on "$1" sh -c 'mkdir -p /srv/sink/cgi-bin && cp /e2e/sink /srv/sink/cgi-bin/sink && : >/srv/sink/log'
	on "$1" systemd-run -q --unit=e2e-sink busybox httpd -f -p 8088 -h /srv/sink
}

# apt_install HOST PACKAGE: the package under test, as "Install" says.
apt_install() {
	echo "-- $1: apt install $2"
	on "$1" apt-get install -y -q "$(deb "$2")" >"$work/apt-$2-$1.log" 2>&1 ||
		die "$1: apt-get install $2 failed: $work/apt-$2-$1.log"
}

# deb PACKAGE: the package's path inside the containers.
deb() {
	local d
	for d in "${debs[@]}"; do
		[[ ${d##*/} == "$1"_* ]] && echo "/debs/${d##*/}"
	done
}

runners_json() { on "$1" posteed-controller runners --json; }

# runners_ok CONTROLLER N: N runners connected, each running CONTROLLER's
# config revision.
runners_ok() {
	runners_json "$1" | on "$1" jq -e --argjson n "$2" '[.[] | select(.connected and .config_current)] | length == $n'
}

# revision CONTROLLER RUNNER: the config revision RUNNER runs.
revision() { runners_json "$1" | on "$1" jq -r --arg n "$2" '.[] | select(.name == $n) | .config_revision'; }

status() { on "$1" systemctl show -P StatusText posteed-controller; }
status_has() { [[ $(status "$1") == *"$2"* ]]; }

# post FILE HOST: the finding FILE posted to HOST's controller, from nats-3.
post() { on nats-3 curl -fsS --data-binary "@/e2e/events/$1.json" "http://$2:8082/" >/dev/null; }

exec_log() { echo "$work/$1/root/var/lib/postee-runner/e2e-exec.log"; }
sink_log() { echo "$work/nats-3/root/srv/sink/log"; }

# ran HOST ACTION SEQ: how often ACTION ran for finding SEQ on HOST's runner.
ran() {
	local n
	n=$(grep -c " $2 $3 " "$(exec_log "$1")" 2>/dev/null) || true
	echo "${n:-0}"
}
has_run() { [[ $(ran "$@") -ge 1 ]]; }

# sank SEQ: how often the controllers' http action ran for finding SEQ.
sank() {
	local n
	n=$(grep -c " sink $1\$" "$(sink_log)" 2>/dev/null) || true
	echo "${n:-0}"
}
has_sunk() { [[ $(sank "$1") -ge 1 ]]; }

expect() {
	local what=$1 got=$2 want=$3
	[[ $got == "$want" ]] || die "$what: got '$got', want '$want'"
	echo "ok: $what = $want"
}

test_both_controllers() {
	post l1 nats-1
	post l2 nats-2
	local s
	for s in l1 l2; do
		wait_for 30 "postee-runner-1's action for $s" has_run nats-1 on-runner-1 "$s"
		wait_for 30 "the controllers' http action for $s" has_sunk "$s"
	done
	sleep 2 # room for a repeat that must not happen
	for s in l1 l2; do
		expect "$s: postee-runner-1's action runs" "$(ran nats-1 on-runner-1 "$s")" 1
		expect "$s: the controllers' http action runs" "$(sank "$s")" 1
		expect "$s: nothing runs on postee-runner-2" "$(ran nats-2 on-runner-1 "$s")" 0
	done
}

test_origin() {
	post o2 nats-1
	post o1 nats-2
	wait_for 30 "@origin action for nats-2 on postee-runner-2" has_run nats-2 on-origin o2
	wait_for 30 "@origin action for nats-1 on postee-runner-1" has_run nats-1 on-origin o1
	sleep 2
	expect "o2 (nats-2, posted to nats-1) runs on postee-runner-2" "$(ran nats-2 on-origin o2)" 1
	expect "o2 runs on postee-runner-1" "$(ran nats-1 on-origin o2)" 0
	expect "o1 (nats-1, posted to nats-2) runs on postee-runner-1" "$(ran nats-1 on-origin o1)" 1
	expect "o1 runs on postee-runner-2" "$(ran nats-2 on-origin o1)" 0
	expect "hosts postee-runner-2's certificate entitles it to" \
		"$(runners_json nats-1 | on nats-1 jq -c '.[] | select(.name == "postee-runner-2") | .hosts')" '["nats-2"]'
}

test_add_controller() {
	readme_run nats-1 add-controller
	readme_run nats-3 controller-start
	local h
	for h in "${hosts[@]}"; do
		wait_for 40 "$h: status line with 3 controllers" status_has "$h" "3 controllers, 2 runners connected"
		echo "ok: $h: $(status "$h")"
	done
	wait_for 30 "nats-3's fleet view: both runners current" runners_ok nats-3 2
	echo "ok: nats-3's fleet view:"
	on nats-3 posteed-controller runners | sed 's/^/    /'
}

test_reload() {
	local before rev h
	before=$(revision nats-1 postee-runner-1)
	on nats-1 sed -i 's/cfg-v1/cfg-v2/' /etc/postee/cfg.yaml
	readme_run nats-1 reload
	wait_for 15 "both runners on a revision after $before" reloaded nats-1 "$before"
	rev=$(revision nats-1 postee-runner-1)
	for h in nats-2 nats-3; do
		wait_for 15 "$h: took revision $rev" runners_ok "$h" 2
	done
	no_mismatch
	echo "ok: postee-runner-1 and postee-runner-2 run revision $rev, every controller with them"

	on nats-2 systemctl stop posteed-controller 2>/dev/null # "can still be activated by" its sockets
	before=$rev
	on nats-1 sed -i 's/cfg-v2/cfg-v3/' /etc/postee/cfg.yaml
	readme_run nats-1 reload
	wait_for 15 "both runners on a revision after $before, nats-2's controller stopped" reloaded nats-1 "$before"
	rev=$(revision nats-1 postee-runner-1)
	wait_for 15 "nats-3: took revision $rev" runners_ok nats-3 2
	echo "ok: with nats-2's controller stopped, both runners run revision $rev"
	post l3 nats-3
	wait_for 30 "postee-runner-1 running l3 with the new config" has_run nats-1 on-runner-1 l3
	grep -q '^local on-runner-1 l3 cfg-v3$' "$(exec_log nats-1)" || die "postee-runner-1 ran l3 with an old config"
	echo "ok: postee-runner-1 ran l3 with cfg-v3"

	start_controller nats-2
	wait_for 15 "nats-2: back, with revision $rev" runners_ok nats-2 2
	expect "revision after nats-2's controller started with the same files" "$(revision nats-1 postee-runner-2)" "$rev"
	no_mismatch
}

# reloaded CONTROLLER REV: both runners run a revision after REV, the
# controller's.
reloaded() {
	local r1 r2
	r1=$(revision "$1" postee-runner-1)
	r2=$(revision "$1" postee-runner-2)
	((r1 > $2 && r2 > $2)) && runners_ok "$1" 2
}

no_mismatch() {
	local h s
	for h in "${hosts[@]}"; do
		s=$(status "$h")
		[[ $s != *differs* ]] || die "$h: $s"
	done
}

test_kills() {
	local c pids=() i n
	for c in "${hosts[@]}"; do
		: >"$work/posts-$c.log"
		poster "$c" >"$work/posts-$c.log" 2>&1 &
		pids+=($!)
	done
	# --kill-whom=main: the daemons are one process each, and a machine with
	# cgroup v1 controllers beside the unified hierarchy (as CI's) fails
	# systemd's kill of the whole cgroup with EIO.
	wait_for 60 "$((burst / 4)) findings posted" posted_ge $((burst / 4))
	on nats-1 systemctl kill -s KILL --kill-whom=main posteed-controller
	echo "killed nats-1's controller after $(posted) findings posted"
	wait_for 60 "$((burst / 2)) findings posted" posted_ge $((burst / 2))
	on nats-2 systemctl kill -s KILL --kill-whom=main nats-server
	echo "killed nats-2's nats-server after $(posted) findings posted"
	for i in "${pids[@]}"; do wait "$i" || die "a poster failed: $(cat "$work"/posts-*.log)"; done
	n=$(accepted | wc -l)
	echo "$n of $burst findings accepted (200)$(refusals)"
	((n >= burst / 2)) || die "only $n of $burst findings accepted: $(grep -hv ' 200$' "$work"/posts-*.log | tr '\n' ' ')"

	local deadline=$((SECONDS + 120))
	until burst_done; do
		((SECONDS < deadline)) || die "after 120 s, accepted findings still not run: $(burst_missing | tr '\n' ' ')"
		sleep 0.5
	done
	echo "ok: every action of every accepted finding run, $((SECONDS - deadline + 120)) s after the last post"
	sleep 5 # room for a repeat that must not happen
	burst_once
	echo "ok: each of the $n accepted findings ran the http action, postee-runner-1's action and its @origin action once; nothing ran twice"

	restarted nats-1 posteed-controller
	restarted nats-2 nats-server
	wait_for 60 "nats-2: nats-server /healthz ok" nats_healthy nats-2
	wait_for 60 "nats-1: posteed-controller active" on nats-1 systemctl is-active -q posteed-controller
	wait_for 60 "both runners connected and current" runners_ok nats-1 2
	for c in "${hosts[@]}"; do
		wait_for 40 "$c: status line with 3 controllers" status_has "$c" "3 controllers, 2 runners connected"
	done
	echo "ok: all back: $(status nats-1)"
}

# restarted HOST UNIT: systemd restarted the killed UNIT (Restart=on-failure).
restarted() {
	local n
	n=$(on "$1" systemctl show -P NRestarts "$2")
	((n >= 1)) || die "$1: $2 not restarted after the kill (NRestarts=$n)"
	echo "ok: $1: $2 restarted by systemd (NRestarts=$n)"
}

# poster CONTROLLER: the burst's findings for CONTROLLER posted to it one by
# one, from nats-3; prints "bI HTTP-STATUS" each (000: no answer).
poster() {
	local i seqs=()
	for ((i = 1; i <= burst; i++)); do
		[[ $(burst_controller "$i") == "$1" ]] && seqs+=("b$i")
	done
	# shellcheck disable=SC2016 # expanded by the container's bash
	on nats-3 bash -c 'to=$1; shift
		for s; do
			code=$(curl -s -o /dev/null -w "%{http_code}" --max-time 90 --data-binary "@/e2e/events/$s.json" "http://$to:8082/") || true
			echo "$s $code"
			sleep 0.1
		done' _ "$1" "${seqs[@]}"
}

posted() { cat "$work"/posts-*.log | wc -l; }

# refusals: ", refused: N with STATUS, ..." (000: no answer) when any.
refusals() {
	awk '$2 != 200 { n[$2]++ } END { for (c in n) printf "%s%d with %s", (s++ ? ", " : ", refused: "), n[c], c }' "$work"/posts-*.log
}
posted_ge() { (($(posted) >= $1)); }
accepted() { awk '$2 == 200 { print $1 }' "$work"/posts-*.log; }

# burst_runs: "WHAT SEQ" for each run of a burst action, WHAT being sink,
# on-runner-1@HOST or on-origin@HOST.
burst_runs() {
	local h
	sed -n 's/^burst sink \(b[0-9]*\)$/sink \1/p' "$(sink_log)"
	for h in nats-1 nats-2; do
		[[ -f $(exec_log "$h") ]] || continue
		sed -n "s/^burst \(on-[a-z0-9-]*\) \(b[0-9]*\) .*/\1@$h \2/p" "$(exec_log "$h")"
	done
}

# burst_want SEQ...: the runs each finding must make.
burst_want() {
	local s
	for s; do
		printf 'sink %s\non-runner-1@nats-1 %s\non-origin@%s %s\n' "$s" "$s" "$(burst_host "${s#b}")" "$s"
	done
}

# burst_missing: the runs of accepted findings not made yet.
burst_missing() {
	# shellcheck disable=SC2046 # one word per finding
	comm -23 <(burst_want $(accepted) | sort) <(burst_runs | sort -u)
}

burst_done() { [[ -z $(burst_missing) ]]; }

# burst_once: no run twice, none of a finding never posted, none elsewhere
# than it should be.
burst_once() {
	local twice stray all=() i
	twice=$(burst_runs | sort | uniq -d)
	[[ -z $twice ]] || die "ran twice: $(tr '\n' ' ' <<<"$twice")"
	for ((i = 1; i <= burst; i++)); do all+=("b$i"); done
	stray=$(comm -13 <(burst_want "${all[@]}" | sort) <(burst_runs | sort))
	[[ -z $stray ]] || die "ran where it should not: $(tr '\n' ' ' <<<"$stray")"
}

# start_controller HOST: systemctl start posteed-controller, again when
# systemd 252 in systemd-nspawn on this kind of host (cgroup v1 and v2
# mixed) could not yet clean the cgroup of a unit killed before and fails
# the start with 219/CGROUP ("Failed to kill control group ...
# Input/output error"); a real host does not need it.
start_controller() {
	local i
	for i in 1 2 3 4 5; do
		on "$1" systemctl start posteed-controller 2>/dev/null && return
		on "$1" systemctl reset-failed posteed-controller 2>/dev/null || true
		sleep "$i"
	done
	on "$1" systemctl start posteed-controller || die "$1: posteed-controller does not start"
}

test_controllers_down() {
	local h
	for h in "${hosts[@]}"; do on "$h" systemctl stop posteed-controller 2>/dev/null; done
	on nats-1 curl -fsS --data-binary @/e2e/events/l4.json http://127.0.0.1:9082/ >/dev/null
	wait_for 30 "postee-runner-1's own action for l4, no controller up" has_run nats-1 on-runner-1 l4
	expect "l4: the controllers' http action, no controller up" "$(sank l4)" 0
	for h in "${hosts[@]}"; do start_controller "$h"; done
	wait_for 60 "the controllers' http action for l4 once they are back" has_sunk l4
	wait_for 60 "both runners connected again" runners_ok nats-1 2
	sleep 2
	expect "l4: postee-runner-1's action runs" "$(ran nats-1 on-runner-1 l4)" 1
	expect "l4: the controllers' http action runs" "$(sank l4)" 1
}

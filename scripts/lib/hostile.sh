# hostile.sh: peak memory of each daemon under N concurrent large posts
# (issue 13, item 2: 60 concurrent 9 MiB posts). Sourced by scripts/bench.
#
# Each phase starts a fresh controller and runner (release builds, TLS NATS,
# config applied), fires the posts at one daemon's intake with curl, which
# retries a 503 after its Retry-After as a producer should, and reads the
# daemon's peak RSS (VmHWM) once every post is answered, then its RSS after
# 10 s idle. Phase "controller": posts to the controller, whose route renders
# each event and dispatches it to the runner too. Phase "runner": posts to
# the runner, which evaluates each event and spools it for the controller.
#
# The daemons get the soft memory limit their units give them: outside
# systemd there is no MemoryHigh=, so --memory-limit is passed as 80% of the
# unit's MemoryHigh= when the binary has the setting (older builds, as in a
# "before" measurement, run as their units did: without one).
#
# Environment: HOSTILE_BIN (directory with posteed-controller and
# postee-runner; default: build this tree), HOSTILE_POSTS (60),
# HOSTILE_MIB (9), HOSTILE_CONTROLLER_FLAGS and HOSTILE_RUNNER_FLAGS (more
# flags, e.g. --max-inflight-bytes=33554432), HOSTILE_KEEP (keep the
# temporary directory).

hostile() {
	local root tmp posts=${HOSTILE_POSTS:-60} mib=${HOSTILE_MIB:-9}
	root=$(pwd)
	tmp=$(mktemp -d)
	local bin=${HOSTILE_BIN:-$tmp/bin}
	if [[ -z ${HOSTILE_BIN:-} ]]; then
		CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin/posteed-controller" ./cmd/posteed-controller
		CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin/postee-runner" ./cmd/postee-runner
	fi
	"$bin/posteed-controller" certs --dir "$tmp/pki" --controller-host localhost postee-runner-1 >/dev/null
	python3 - "$tmp/event.json" "$mib" <<-'EOF'
		import json, sys
		out, mib = sys.argv[1], int(sys.argv[2])
		vuln = {"name": "CVE-2024-0000", "version": "1.2.3-r0", "fix_version": "1.2.4-r0",
		        "aqua_severity": "critical", "description": "A flaw <in> the parser & friends. " * 4}
		ev = {"image": "alpine:3.19", "registry": "bench", "vulnerabilities": []}
		size = len(json.dumps(ev))
		one = len(json.dumps(vuln)) + 2
		while size + one < mib << 20:
		    ev["vulnerabilities"].append(dict(vuln, name="CVE-2024-%05d" % len(ev["vulnerabilities"])))
		    size += one
		open(out, "w").write(json.dumps(ev))
	EOF
	echo "== hostile: $posts concurrent posts of $(stat -c %s "$tmp/event.json") bytes ($(cut -d' ' -f1-3 /proc/loadavg) load)"
	for phase in ${HOSTILE_PHASES:-controller runner}; do
		hostile_phase "$root" "$bin" "$tmp/$phase" "$tmp/event.json" "$posts" "$phase"
	done
	[[ -n ${HOSTILE_KEEP:-} ]] || rm -rf "$tmp"
}

# memlimit_flag prints --memory-limit=80% of the unit's MemoryHigh= when
# bin knows the setting.
memlimit_flag() {
	local bin=$1 unit=$2 high
	"$bin" run --help 2>&1 | grep -q -- -memory-limit || return 0
	high=$(sed -nE 's/^MemoryHigh=([0-9]+)M$/\1/p' "$unit")
	[[ -n $high ]] && echo "--memory-limit=$((high * 80 / 100))MiB"
}

hostile_phase() {
	local root=$1 bin=$2 dir=$3 event=$4 posts=$5 target=$6
	mkdir -p "$dir"
	local nats http rhttp cadm radm
	nats=$(port) http=$(port) rhttp=$(port) cadm=$(port) radm=$(port)
	cat >"$dir/cfg.yaml" <<-'EOF'
		routes:
		- name: scans
		  input: contains(input.image, "alpine")
		  actions: [controller-stdout, runner-stdout]
		  template: raw-json
		templates:
		- name: raw-json
		  rego-package: postee.rawmessage.json
		actions:
		- name: controller-stdout
		  type: stdout
		  enable: true
		- name: runner-stdout
		  type: stdout
		  enable: true
		  runs-on: postee-runner-1
	EOF
	local pki=$dir/../pki pids=()
	# shellcheck disable=SC2046 # the flag is one word or none
	"$bin/posteed-controller" run --config /dev/null --cfgfile "$dir/cfg.yaml" --url "127.0.0.1:$http" --tls "" \
		--admin "127.0.0.1:$cadm" --state-dir "$dir/ctl" --controller-url "nats://127.0.0.1:$nats" \
		--controller-tls-cert "$pki/controller.crt" --controller-tls-key "$pki/controller.key" \
		--controller-ca-root "$pki/ca.crt" $(memlimit_flag "$bin/posteed-controller" "$root/systemd/posteed-controller.service") \
		${HOSTILE_CONTROLLER_FLAGS:-} >/dev/null 2>"$dir/ctl.log" &
	local ctl=$!
	pids+=("$ctl")
	await_port "$nats"
	# shellcheck disable=SC2046
	"$bin/postee-runner" run --config /dev/null --runner-name postee-runner-1 --controller-url "tls://127.0.0.1:$nats" \
		--runner-tls-cert "$pki/postee-runner-1.crt" --runner-tls-key "$pki/postee-runner-1.key" \
		--runner-ca-root "$pki/ca.crt" --url "127.0.0.1:$rhttp" --tls "" --admin "127.0.0.1:$radm" \
		--state-dir "$dir/run" --runtime-dir "$dir/rt" \
		$(memlimit_flag "$bin/postee-runner" "$root/systemd/postee-runner.service") ${HOSTILE_RUNNER_FLAGS:-} >/dev/null 2>"$dir/run.log" &
	local run=$!
	pids+=("$run")
	for _ in $(seq 100); do grep -qs "config applied" "$dir/run.log" && break; sleep 0.2; done
	grep -qs "config applied" "$dir/run.log" || { echo "runner got no config"; tail "$dir/run.log"; kill "${pids[@]}"; return 1; }

	local url=http://127.0.0.1:$http/ pid=$ctl name=posteed-controller
	if [[ $target == runner ]]; then
		url=http://127.0.0.1:$rhttp/ pid=$run name=postee-runner
	fi
	local start=$SECONDS
	# An answer of 000 is no answer (curl's exit code follows the slash).
	# -o names a file: curl truncates its output before a retry, which
	# fails on /dev/null.
	seq "$posts" | xargs -P "$posts" -I{} curl -s -o "$dir/answer.{}" -w '%{http_code}/%{exitcode}\n' --retry 1000 \
		--retry-max-time 900 -H 'Content-Type: application/json' --data-binary "@$event" "$url" >"$dir/codes" || true
	local took=$((SECONDS - start))
	local peak rss busy
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "$name died under the load:"
		tail -5 "$dir/$([[ $target == runner ]] && echo run || echo ctl).log"
		sort "$dir/codes" | uniq -c
		kill "${pids[@]}" 2>/dev/null || true
		return 0
	fi
	peak=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$pid/status")
	busy=$(curl -s "http://127.0.0.1:$([[ $target == runner ]] && echo "$radm" || echo "$cadm")/metrics" |
		awk '/^posteed_bad_input_total\{reason="busy"\}/ {print $2}')
	sleep 10
	rss=$(awk '/VmRSS/ {print int($2/1024)}' "/proc/$pid/status")
	echo "$name: peak RSS ${peak} MiB, RSS ${rss} MiB after 10 s idle;" \
		"answers: $(sort "$dir/codes" | uniq -c | awk '{printf "%s×%s ", $1, $2}')in ${took} s;" \
		"503 busy on the way: ${busy:-0}; $(grep -m1 -o 'memory limit.*' "$dir/$([[ $target == runner ]] && echo run || echo ctl).log" || echo 'no memory limit line')"
	kill "${pids[@]}" 2>/dev/null || true
	wait "${pids[@]}" 2>/dev/null || true
}

await_port() {
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "nothing listens on $1" >&2
	return 1
}

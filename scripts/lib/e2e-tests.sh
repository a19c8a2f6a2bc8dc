# shellcheck shell=bash
# The fleet tests of scripts/e2e; helpers (on, wait_for, die) in e2e.sh.

# share: what the containers read from /e2e (read-only): the Postee config,
# findings, the HTTP sink's CGI script.
share() {
	local d=$work/share
	mkdir -p "$d"
	cp scripts/lib/e2e-cfg.yaml "$d/cfg.yaml"
	finding local runner-1 >"$d/local.json"
	finding origin runner-2 >"$d/origin.json"
	finding queued runner-2 >"$d/queued.json"
	cat >"$d/sink" <<-'EOF'
		#!/bin/sh
		# busybox httpd CGI: one line per request body.
		head -c "${CONTENT_LENGTH:-0}" >>/srv/sink/log
		echo >>/srv/sink/log
		printf 'Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nok\n'
	EOF
	chmod 0755 "$d/sink"
}

# finding MARK HOST: the sample Tracee finding from HOST, marked for a route.
finding() {
	sed -e "0,/{/s//{\"e2e\": \"$1\",/" -e "s/\"hostName\": \"[^\"]*\"/\"hostName\": \"$2\"/" \
		testdata/events/tracee-finding.json
}

# install_fleet: what the README tells an operator, on every host.
install_fleet() {
	local h
	"$root/dist/stage/bin/posteed-controller" certs --dir "$work/certs" \
		--controller-host controller runner-1=runner-1 runner-2=runner-2 >/dev/null

	on controller apt-get install -y -q "$(deb v1 posteed-controller)" >"$work/apt-controller.log"
	installed_idle controller posteed-controller
	tls controller controller
	install -m 0644 "$work/share/cfg.yaml" "$work/controller/root/etc/postee/cfg.yaml"
	on controller posteed-controller check --cfgfile /etc/postee/cfg.yaml
	on controller sh -c 'mkdir -p /srv/sink/cgi-bin && cp /e2e/sink /srv/sink/cgi-bin/sink && : >/srv/sink/log'
	on controller systemd-run -q --unit=e2e-sink busybox httpd -f -p 8088 -h /srv/sink
	on controller systemctl enable -q --now posteed-controller

	for h in runner-1 runner-2; do
		on "$h" apt-get install -y -q "$(deb v1 postee-runner)" >"$work/apt-$h.log"
		installed_idle "$h" postee-runner
		tls "$h" runner "$h"
		on "$h" sed -i -e "s|^#runner-name = \"\"|runner-name = \"$h\"|" \
			-e 's|^#controller-url = ""|controller-url = "tls://controller:4222"|' /etc/postee/runner.toml
		on "$h" systemctl enable -q --now postee-runner
	done
	wait_for 60 "both runners connected with the current config" runners_ok 2
	on controller posteed-controller runners
}

# installed_idle HOST PACKAGE: installing enabled and started nothing.
installed_idle() {
	local u state
	for u in "$2.service" "$2.socket" "$2-https.socket"; do
		state=$(on "$1" systemctl is-enabled "$u" || true)
		[[ $state == disabled ]] || die "$1: $u is $state after install, want disabled"
		! on "$1" systemctl is-active -q "$u" || die "$1: $u is active after install"
	done
	echo "ok: $1: $2 installed, its units disabled and stopped"
}

# tls HOST ROLE [RUNNER]: the TLS files into HOST's /etc/postee/tls, 0600 root.
tls() {
	local dir=$work/$1/root/etc/postee/tls src=${3:-$2}
	install -m 0644 "$work/certs/ca.crt" "$dir/ca.crt"
	install -m 0600 "$work/certs/$src.crt" "$dir/$2.crt"
	install -m 0600 "$work/certs/$src.key" "$dir/$2.key"
}

# deb BUILD PACKAGE: the package's path inside the containers.
deb() {
	local f
	f=$(cd "$work/debs/$1" && echo "$2"_*.deb)
	echo "/debs/$1/$f"
}

runners_json() { on controller posteed-controller runners --json; }

# runners_ok N: N runners connected, each running the current config.
runners_ok() {
	runners_json | on controller jq -e --argjson n "$1" '[.[] | select(.connected and .config_current)] | length == $n'
}

# runner_field RUNNER JQ: a field of RUNNER in the fleet view.
runner_field() { runners_json | on controller jq -r --arg n "$1" ".[] | select(.name == \$n) | $2"; }

post() { on "$1" curl -fsS --data-binary "@/e2e/$2.json" "http://127.0.0.1:$3/" >/dev/null; }

# marks HOST ROUTE: how often HOST's exec actions ran for ROUTE.
marks() {
	on "$1" sh -c "grep -c '^$2 ' /var/lib/postee-runner/e2e-exec.log || true"
}

has_mark() { [[ $(marks "$1" "$2") -ge 1 ]]; }

# field_is RUNNER JQ VALUE, field_ge RUNNER JQ N: predicates on the fleet
# view for wait_for, which runs them again on each poll.
field_is() { [[ $(runner_field "$1" "$2") == "$3" ]]; }
field_ge() { [[ $(runner_field "$1" "$2") -ge $3 ]]; }

sink_has() { [[ $(sink_count "$1") -ge 1 ]]; }

sink_count() { on controller sh -c "grep -c '^$1\$' /srv/sink/log || true"; }

expect() {
	local what=$1 got=$2 want=$3
	[[ $got == "$want" ]] || die "$what: got '$got', want '$want'"
	echo "ok: $what = $want"
}

test_local_finding() {
	post runner-1 local 9082
	wait_for 30 "runner-1's exec action for local-finding" has_mark runner-1 local-finding
	wait_for 30 "the controller's http action for local-finding" sink_has local-finding
	on runner-1 journalctl -q -u postee-runner POSTEE_ROUTE=local-finding -o cat --no-pager | grep -q . ||
		die "journalctl -u postee-runner POSTEE_ROUTE=local-finding finds nothing"
	echo "ok: journalctl -u postee-runner POSTEE_ROUTE=local-finding:"
	on runner-1 journalctl -q -u postee-runner POSTEE_ROUTE=local-finding -o cat --no-pager | sed 's/^/    /'
}

test_origin_routing() {
	post controller origin 8082
	wait_for 30 "runner-2's @origin action for origin-finding" has_mark runner-2 origin-finding
}

test_reload() {
	local before
	before=$(runner_field runner-2 .config_revision)
	on controller sed -i 's/cfg-v1/cfg-v2/' /etc/postee/cfg.yaml
	on controller systemctl reload posteed-controller
	wait_for 10 "both runners on a revision after $before" reloaded "$before"
	echo "ok: runner-1 and runner-2 run config revision $(runner_field runner-1 .config_revision)"
}

reloaded() {
	[[ $(runner_field runner-1 .config_revision) -gt $1 && $(runner_field runner-2 .config_revision) -gt $1 ]] &&
		runners_ok 2
}

test_queued_work() {
	on runner-2 systemctl stop postee-runner.service
	wait_for 30 "the controller seeing runner-2 gone" field_is runner-2 .connected false
	post controller queued 8082
	wait_for 30 "work queued for runner-2" field_ge runner-2 .pending_work 1
	expect "queued-finding runs on stopped runner-2" "$(marks runner-2 queued-finding)" 0
	on runner-2 systemctl start postee-runner.service
	wait_for 30 "runner-2 running the queued work" has_mark runner-2 queued-finding
	wait_for 30 "runner-2's queue drained" field_is runner-2 .pending_work 0
	# Once more through a restart: acknowledged work must not come back.
	on runner-2 systemctl restart postee-runner.service
	wait_for 30 "runner-2 back" runners_ok 2
	expect "queued-finding runs on runner-2" "$(marks runner-2 queued-finding)" 1
	on runner-2 grep -q '^queued-finding .* cfg-v2$' /var/lib/postee-runner/e2e-exec.log ||
		die "runner-2 ran the queued work with an old config"
	expect_counts
}

# expect_counts: every action ran once, where it should, and nowhere else.
expect_counts() {
	expect "local-finding exec runs on runner-1" "$(marks runner-1 local-finding)" 1
	expect "local-finding http action runs" "$(sink_count local-finding)" 1
	expect "origin-finding exec runs on runner-2" "$(marks runner-2 origin-finding)" 1
	expect "origin-finding exec runs on runner-1" "$(marks runner-1 origin-finding)" 0
	expect "local-finding exec runs on runner-2" "$(marks runner-2 local-finding)" 0
}

test_upgrade() {
	local before after
	on runner-1 sed -i 's|^#log-level = "info"|log-level = "debug"|' /etc/postee/runner.toml
	before=$(on runner-1 systemctl show -P MainPID postee-runner)
	on runner-1 apt-get install -y -q "$(deb v2 postee-runner)" >"$work/apt-upgrade.log"
	on runner-1 grep -q '^log-level = "debug"$' /etc/postee/runner.toml || die "the upgrade lost the edit of runner.toml"
	echo "ok: edited runner.toml kept"
	on runner-1 test ! -e /etc/postee/runner.toml.dpkg-dist -a ! -e /etc/postee/runner.toml.dpkg-old ||
		die "the upgrade left a runner.toml.dpkg-* behind"
	expect "postee-runner --version" "$(on runner-1 postee-runner --version | head -n1)" "postee-runner $v2"
	after=$(on runner-1 systemctl show -P MainPID postee-runner)
	[[ $after != 0 && $after != "$before" ]] || die "postee-runner not restarted by the upgrade (MainPID $before → $after)"
	echo "ok: restarted (MainPID $before → $after)"
	wait_for 30 "the controller seeing runner-1 at $v2" field_is runner-1 .version "$v2"
	echo "ok: the controller sees runner-1 at $v2"
}

test_purge() {
	local h pkg
	for h in "${hosts[@]}"; do
		pkg=postee-runner
		[[ $h == controller ]] && pkg=posteed-controller
		on "$h" apt-get purge -y -q "$pkg" >"$work/purge-$h.log"
		on "$h" sh -c "! systemctl is-active -q $pkg.service $pkg.socket $pkg-https.socket" ||
			die "$h: a $pkg unit is still active after purge"
		local left
		left=$(on "$h" find / -xdev \( -name '*postee*' -o -path '/etc/postee' \) -print)
		[[ -z $left ]] || die "$h: purge of $pkg left: $left"
		if on "$h" dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q installed; then
			die "$h: $pkg still installed"
		fi
		echo "ok: $h: nothing of $pkg left (the postee user stays, as Debian keeps system users)"
	done
}

# shellcheck shell=bash
# posteed_promtool prints the path of promtool, for the checks of the
# shipped alert rules (scripts/check-monitoring). promtool comes from
# Debian's prometheus package: the one on PATH if installed, else the
# package is downloaded once (apt-get download, no root needed) and only
# its promtool unpacked into ${XDG_CACHE_HOME:-~/.cache}/posteed-tools/, so
# no Prometheus server gets installed or started on the machine.
posteed_promtool() {
	if command -v promtool >/dev/null; then
		command -v promtool
		return
	fi
	local version dir tmp
	version=$(apt-cache policy prometheus | awk '/Candidate:/ { print $2 }')
	if [[ -z $version || $version == "(none)" ]]; then
		apt-get update -qq >&2 || true
		version=$(apt-cache policy prometheus | awk '/Candidate:/ { print $2 }')
	fi
	if [[ -z $version || $version == "(none)" ]]; then
		echo "posteed_promtool: no prometheus package in the apt sources" >&2
		return 1
	fi
	dir=${XDG_CACHE_HOME:-$HOME/.cache}/posteed-tools/promtool@${version//[:~+]/_}
	if [[ ! -x $dir/promtool ]]; then
		echo "unpacking promtool from Debian's prometheus $version into $dir (once)" >&2
		tmp=$(mktemp -d)
		(cd "$tmp" && apt-get download -qq "prometheus=$version" >&2) &&
			dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/root" &&
			mkdir -p "$dir" && install -m 0755 "$tmp/root/usr/bin/promtool" "$dir/promtool"
		local rc=$?
		rm -rf "$tmp"
		((rc == 0)) || return "$rc"
	fi
	echo "$dir/promtool"
}

# shellcheck shell=bash
# posteed_install_chromium installs Debian's chromium for the status page's
# browser test (controller TestStatusPageInChromium), unless it is there.
posteed_install_chromium() {
	[[ -x /usr/bin/chromium ]] && return 0
	local sudo=()
	[[ $(id -u) == 0 ]] || sudo=(sudo)
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq chromium >/dev/null
}

# shellcheck shell=bash
# posteed_version prints the version the binaries and packages carry, as
# semver (nfpm turns the pre-release part into deb's and rpm's "~", so
# development builds sort before the next release):
#   $VERSION when set (e.g. to build a newer package from the same commit)
#   1.2.3                      at tag v1.2.3
#   1.2.3+5.gabcdef123456      5 commits after v1.2.3: above 1.2.3, below 1.2.4
#   0.0.0-dev.20261123164556+gabcdef123456   no tag yet: commit time (UTC)
posteed_version() {
	local root=${1:-.} desc base count sha when
	if [[ -n ${VERSION:-} ]]; then
		echo "${VERSION#v}"
		return
	fi
	if desc=$(git -C "$root" describe --tags --match 'v[0-9]*' --long 2>/dev/null); then
		sha=${desc##*-g}
		desc=${desc%-g*}
		count=${desc##*-}
		base=${desc%-*}
		base=${base#v}
		if [[ $count == 0 ]]; then
			echo "$base"
		else
			echo "$base+$count.g$sha"
		fi
		return
	fi
	sha=$(git -C "$root" rev-parse --short=12 HEAD)
	when=$(TZ=UTC git -C "$root" log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S HEAD)
	echo "0.0.0-dev.$when+g$sha"
}

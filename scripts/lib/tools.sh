# shellcheck shell=bash
# posteed_tool NAME prints the path of a packaging tool at the version pinned
# in tools/go.mod, building it once into
# ${XDG_CACHE_HOME:-~/.cache}/posteed-tools/NAME@VERSION/ (goreleaser takes
# minutes to build). Building needs only the Go module cache when it holds
# the modules (GOFLAGS=-mod=readonly: nothing is resolved anew).
posteed_tool() {
	local name=$1 root=${2:-.} module pkg version dir
	case $name in
	nfpm) module=github.com/goreleaser/nfpm/v2 pkg=$module/cmd/nfpm ;;
	goreleaser) module=github.com/goreleaser/goreleaser/v2 pkg=$module ;;
	*)
		echo "posteed_tool: unknown tool $name" >&2
		return 2
		;;
	esac
	version=$(awk -v m="$module" '$1 == m && $2 ~ /^v/ { print $2 }' "$root/tools/go.mod")
	if [[ -z $version ]]; then
		echo "posteed_tool: $module is not pinned in tools/go.mod" >&2
		return 1
	fi
	dir=${XDG_CACHE_HOME:-$HOME/.cache}/posteed-tools/$name@$version
	if [[ ! -x $dir/$name ]]; then
		echo "building $name $version into $dir (once)" >&2
		mkdir -p "$dir"
		(cd "$root/tools" && CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=readonly" go build -trimpath -o "$dir/$name.tmp" "$pkg") || return 1
		mv "$dir/$name.tmp" "$dir/$name"
	fi
	echo "$dir/$name"
}

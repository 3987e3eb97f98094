#!/usr/bin/env bash
# Builds the real control plane the cluster tests run against (kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl of one Kubernetes release, and etcd)
# from the Go modules pinned in scripts/cluster/{k8s,etcd}/go.mod, into a cache outside
# the work tree. A complete cache is reused; a partial one is rebuilt.
#
#   scripts/cluster/build.sh            build what is missing, print the two directories
#   BOSUN_CACHE=/some/dir scripts/cluster/build.sh
#
# Build time and peak memory go to <dir>/build.log (GNU time -v when installed).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${BOSUN_CACHE:-/var/cache/bosun}"

# The version of a module as go.mod requires it (a line of a require block, after tidy).
required() { awk -v m="$1" '$1 == m { print $2; exit }' "$2"; }
k8s_version="$(required k8s.io/kubernetes "$here/k8s/go.mod")"
etcd_version="$(required go.etcd.io/etcd/server/v3 "$here/etcd/go.mod")"
[[ "$k8s_version" =~ ^v1\.([0-9]+)\.[0-9]+$ ]] || { echo "build.sh: no k8s.io/kubernetes version in $here/k8s/go.mod" >&2; exit 1; }
k8s_minor="${BASH_REMATCH[1]}"
[[ "$etcd_version" =~ ^v3\.[0-9]+\.[0-9]+$ ]] || { echo "build.sh: no etcd version in $here/etcd/go.mod" >&2; exit 1; }

k8s_dir="$cache/k8s-$k8s_version"
etcd_dir="$cache/etcd-$etcd_version"
k8s_bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl)

command -v go >/dev/null || { echo "build.sh: go is not installed" >&2; exit 1; }

# Memory and the two shared cores: one package at a time when asked (BOSUN_BUILD_P=1).
parallel=(-p "${BOSUN_BUILD_P:-$(nproc)}")
timed() {
  local log="$1"; shift
  if [[ -x /usr/bin/time ]]; then
    /usr/bin/time -v -a -o "$log" "$@"
  else
    local start=$SECONDS
    "$@"
    echo "elapsed ${SECONDS}-${start}s (GNU time not installed: no peak memory)" >>"$log"
  fi
}

build_k8s() {
  local tmp="$k8s_dir.tmp.$$"
  rm -rf "$k8s_dir".tmp.* && mkdir -p "$tmp" # and what a failed build left
  local now; now="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  local ld="-s -w"
  # The same variables the release build sets (hack/lib/version.sh): kubectl version,
  # /version and the node's skew checks read them.
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$now"
  done
  local pkgs=()
  for b in "${k8s_bins[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
  echo "build.sh: building ${k8s_bins[*]} $k8s_version into $k8s_dir" >&2
  echo "== go build ${k8s_bins[*]} $k8s_version $(date -u)" >>"$tmp/build.log"
  (cd "$here/k8s" && CGO_ENABLED=0 GOFLAGS=-mod=mod timed "$tmp/build.log" \
    nice -n 10 go build "${parallel[@]}" -trimpath -ldflags "$ld" -o "$tmp/" "${pkgs[@]}")
  rm -rf "$k8s_dir" && mv "$tmp" "$k8s_dir"
}

build_etcd() {
  local tmp="$etcd_dir.tmp.$$"
  rm -rf "$etcd_dir".tmp.* && mkdir -p "$tmp"
  echo "build.sh: building etcd $etcd_version into $etcd_dir" >&2
  echo "== go build etcd $etcd_version $(date -u)" >>"$tmp/build.log"
  (cd "$here/etcd" && CGO_ENABLED=0 GOFLAGS=-mod=mod timed "$tmp/build.log" \
    nice -n 10 go build "${parallel[@]}" -trimpath \
      -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$etcd_version" \
      -o "$tmp/etcd" go.etcd.io/etcd/server/v3)
  rm -rf "$etcd_dir" && mv "$tmp" "$etcd_dir"
}

mkdir -p "$cache"
# The compiler's scratch space beside the cache: a shared /tmp that someone cleans would
# fail a long build half way.
export GOTMPDIR="$cache/.gotmp"
mkdir -p "$GOTMPDIR"
complete=1
for b in "${k8s_bins[@]}"; do [[ -x "$k8s_dir/$b" ]] || complete=0; done
[[ -x "$etcd_dir/etcd" ]] || build_etcd
((complete)) || build_k8s
echo "K8S_BIN=$k8s_dir"
echo "ETCD_BIN=$etcd_dir"

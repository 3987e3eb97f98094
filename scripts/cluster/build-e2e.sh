#!/usr/bin/env bash
# Builds upstream's end-to-end test binary (e2e.test, `go test -c` of k8s.io/kubernetes/test/e2e)
# with the ginkgo CLI that runs it on several processes, and its test-image binaries (agnhost,
# nnp of the nonewprivs image) from the same release and
# go.mod as the control plane (scripts/cluster/k8s/go.mod), into ${BOSUN_CACHE}/e2e-<version>.
# A complete cache is reused; a partial one is rebuilt. The conformance run
# (test/conformance/run.ts) and scripts/conformance/images.sh use it.
#
#   scripts/cluster/build-e2e.sh        build what is missing, print E2E_BIN=<dir>
#
# Build time and peak memory go to <dir>/build.log (GNU time -v when installed).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${BOSUN_CACHE:-/var/cache/bosun}"
k8s_version="$(awk '$1 == "k8s.io/kubernetes" { print $2; exit }' "$here/k8s/go.mod")"
[[ "$k8s_version" =~ ^v1\.([0-9]+)\.[0-9]+$ ]] || { echo "build-e2e.sh: no k8s.io/kubernetes version in $here/k8s/go.mod" >&2; exit 1; }
k8s_minor="${BASH_REMATCH[1]}"
dir="$cache/e2e-$k8s_version"
bins=(e2e.test ginkgo agnhost nnp)

command -v go >/dev/null || { echo "build-e2e.sh: go is not installed" >&2; exit 1; }

complete=1
for b in "${bins[@]}"; do [[ -x "$dir/$b" ]] || complete=0; done
if ((complete)); then echo "E2E_BIN=$dir"; exit 0; fi

mkdir -p "$cache"
export GOTMPDIR="$cache/.gotmp" # not a shared /tmp that someone may clean half way
mkdir -p "$GOTMPDIR"
tmp="$dir.tmp.$$"
rm -rf "$dir".tmp.* && mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT

timed() {
  if [[ -x /usr/bin/time ]]; then /usr/bin/time -v -a -o "$tmp/build.log" "$@"; else "$@"; fi
}

# The version the suite reports and compares with the server's (hack/lib/version.sh).
now="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
ld="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
  ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$now"
done
# A long build on shared cores: niced, and one package at a time when asked (BOSUN_BUILD_P=1).
parallel=(-p "${BOSUN_BUILD_P:-$(nproc)}")
cd "$here/k8s"
export CGO_ENABLED=0 GOFLAGS=-mod=mod
echo "build-e2e.sh: building e2e.test $k8s_version into $dir (long on a cold cache)" >&2
echo "== go test -c k8s.io/kubernetes/test/e2e $k8s_version $(date -u)" >>"$tmp/build.log"
timed nice -n 15 go test -c -vet=off "${parallel[@]}" -trimpath -ldflags "$ld" -o "$tmp/e2e.test" k8s.io/kubernetes/test/e2e
# The ginkgo CLI of the same ginkgo version runs e2e.test on more than one process.
echo "== go build ginkgo agnhost nnp $(date -u)" >>"$tmp/build.log"
timed nice -n 15 go build "${parallel[@]}" -trimpath -ldflags "$ld" -o "$tmp/" github.com/onsi/ginkgo/v2/ginkgo \
  k8s.io/kubernetes/test/images/agnhost k8s.io/kubernetes/test/images/nonewprivs
mv "$tmp/nonewprivs" "$tmp/nnp"
rm -rf "$dir" && mv "$tmp" "$dir"
trap - EXIT
echo "E2E_BIN=$dir"

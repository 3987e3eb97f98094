#!/usr/bin/env bash
# Prepare this host for bosun: packages, a running Docker engine, the local
# images, and the kernel settings the agent and its tests need.
#
# Idempotent and safe to re-run; when everything is already in place it takes
# a few seconds. Runs as root on Debian 12 (bookworm), with or without systemd
# as PID 1. No image registry is needed: the images are built FROM scratch.
#
# Usage: scripts/setup-host.sh [--quiet] [--containerd]
#   --quiet       print only warnings and errors
#   --containerd  also set up bosun's own CRI-enabled containerd (socket
#                 /run/bosun-containerd/containerd.sock, see the section below)
#
# Environment (defaults suit a normal host; the overrides exist to exercise
# the engine-start path against a second, private dockerd):
#   BOSUN_DOCKER_SOCK     engine socket          (/var/run/docker.sock)
#   BOSUN_DOCKERD_LOG     log of a dockerd started here (/var/log/bosun-dockerd.log)
#   BOSUN_DOCKERD_ARGS    extra dockerd arguments, word-split ("")
#   BOSUN_DOCKER_TIMEOUT  seconds to wait for the engine (60)
set -euo pipefail

QUIET=0
WANT_CONTAINERD=0
for arg in "$@"; do
  case "$arg" in
    --quiet|-q) QUIET=1 ;;
    --containerd) WANT_CONTAINERD=1 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup-host: unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DOCKER_SOCK="${BOSUN_DOCKER_SOCK:-/var/run/docker.sock}"
DOCKERD_LOG="${BOSUN_DOCKERD_LOG:-/var/log/bosun-dockerd.log}"
DOCKER_TIMEOUT="${BOSUN_DOCKER_TIMEOUT:-60}"
export DOCKER_HOST="unix://${DOCKER_SOCK}"
export DOCKER_BUILDKIT=0
# dockerd, sysctl and modprobe live in sbin, which a minimal PATH may lack.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

PAUSE_IMAGE="localhost/bosun/pause:3.10"
BUSYBOX_IMAGE="localhost/bosun/busybox:1"
HASH_LABEL="io.bosun.build-inputs"

START=$(date +%s%N)

log() { if [ "$QUIET" = 0 ]; then echo "setup-host: $*"; fi; }
warn() { echo "setup-host: WARNING: $*" >&2; }
die() { echo "setup-host: ERROR: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

BUILD_TMP=""
ADDED_POLICY=0
cleanup() {
  if [ -n "$BUILD_TMP" ]; then rm -rf "$BUILD_TMP"; fi
  if [ "$ADDED_POLICY" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
}
trap cleanup EXIT

# ---------------------------------------------------------------- packages
pkg_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

# apt-get install of the packages named, with Debian's package scripts kept from starting
# daemons on their own (a failing init script would fail the install; dockerd and containerd
# are started below, our way).
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    ADDED_POLICY=1
  fi
  local apt_rc=0
  { apt-get update -q >/tmp/bosun-apt.log 2>&1 &&
    apt-get install -y -q --no-install-recommends "$@" >>/tmp/bosun-apt.log 2>&1; } || apt_rc=$?
  if [ "$ADDED_POLICY" = 1 ]; then rm -f /usr/sbin/policy-rc.d; ADDED_POLICY=0; fi
  if [ "$apt_rc" != 0 ]; then
    tail -n 30 /tmp/bosun-apt.log >&2 || true
    die "apt-get failed (exit $apt_rc), full log in /tmp/bosun-apt.log"
  fi
  hash -r
}

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
# promtool (Debian's prometheus package) checks the agent's /metrics in the tests.
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
# nftables: `nft` for --proxy-mode nftables and its tests.
# docker-registry, apache2-utils (htpasswd) and openssl: the test registries (scripts/registry.sh).
for p in iptables nftables conntrack busybox-static gcc libc6-dev curl ca-certificates iproute2 procps \
  docker-registry apache2-utils openssl; do
  pkg_installed "$p" || missing+=("$p")
done
if ! command -v node >/dev/null 2>&1; then
  missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
elif ! command -v npm >/dev/null 2>&1; then
  missing+=(npm)
fi

if [ "${#missing[@]}" -gt 0 ]; then
  log "installing: ${missing[*]}"
  apt_install "${missing[@]}"
else
  log "packages: all present"
fi

# Debian's docker-registry package brings a service on :5000 (every address): the tests start
# their own on 127.0.0.1 (scripts/registry.sh), so the packaged one stays off.
if [ -d /run/systemd/system ] && systemctl is-enabled docker-registry >/dev/null 2>&1; then
  systemctl disable --now docker-registry >/dev/null 2>&1 || warn "could not disable the docker-registry service"
fi

command -v dockerd >/dev/null 2>&1 || die "dockerd still missing after install"
command -v docker >/dev/null 2>&1 || die "docker CLI missing"

# ---------------------------------------------------------------- engine
docker_ping() {
  [ -S "$DOCKER_SOCK" ] &&
    [ "$(curl -s --max-time 2 --unix-socket "$DOCKER_SOCK" http://localhost/_ping 2>/dev/null || true)" = OK ]
}

# alive PID: the process exists and is not a zombie.
alive() {
  local st
  st=$(ps -o stat= -p "$1" 2>/dev/null || true)
  [ -n "$st" ] && [ "${st#Z}" = "$st" ]
}

engine_fail() {
  echo "setup-host: ---- last lines of $DOCKERD_LOG ----" >&2
  tail -n 30 "$DOCKERD_LOG" >&2 2>/dev/null || true
  if [ -d /run/systemd/system ]; then journalctl -u docker -n 30 --no-pager >&2 2>/dev/null || true; fi
  die "$1"
}

DOCKERD_PID=""
start_dockerd() {
  local extra_args=()
  read -r -a extra_args <<<"${BOSUN_DOCKERD_ARGS:-}"
  # Append (never truncate): a dockerd still shutting down may write to the
  # same log. Keep the log bounded across many restarts.
  if [ "$(stat -c %s "$DOCKERD_LOG" 2>/dev/null || echo 0)" -gt 20000000 ]; then
    mv -f "$DOCKERD_LOG" "$DOCKERD_LOG.1"
  fi
  echo "==== setup-host: starting dockerd at $(date -u +%FT%TZ) ====" >>"$DOCKERD_LOG"
  # setsid + nohup: the daemon outlives this script and its session.
  setsid nohup dockerd "${extra_args[@]}" >>"$DOCKERD_LOG" 2>&1 </dev/null &
  DOCKERD_PID=$!
  log "docker engine: dockerd started, pid $DOCKERD_PID"
}

# dockerd_exited: our dockerd died before answering. Retry when an older
# dockerd still holds the pid file (it is shutting down: its socket goes away
# before its pid file does); remove a pid file whose process is gone or is no
# dockerd; give up at once on any other error.
dockerd_exited() {
  local tail_lines pidfile oldpid
  wait "$DOCKERD_PID" 2>/dev/null || true
  tail_lines=$(tail -n 5 "$DOCKERD_LOG" 2>/dev/null || true)
  case "$tail_lines" in
    *"pid file found"*) ;;
    *) engine_fail "dockerd exited before answering on $DOCKER_SOCK" ;;
  esac
  pidfile=$(printf '%s\n' "$tail_lines" | sed -n 's/.*or delete \(\/[^ ]*\)$/\1/p' | tail -n 1)
  oldpid=$(cat "$pidfile" 2>/dev/null || true)
  if [ -n "$oldpid" ] && [ "$(cat "/proc/$oldpid/comm" 2>/dev/null || true)" = dockerd ]; then
    log "docker engine: an older dockerd (pid $oldpid) is still shutting down, waiting"
  elif [ -n "$oldpid" ]; then
    log "docker engine: removing stale pid file $pidfile (pid $oldpid is no dockerd)"
    rm -f "$pidfile"
  else
    log "docker engine: an older dockerd just released its pid file, retrying"
  fi
}

if docker_ping; then
  log "docker engine: running ($DOCKER_SOCK)"
else
  own_dockerd=1
  if [ -d /run/systemd/system ] && [ -z "${BOSUN_DOCKERD_ARGS:-}" ] &&
    [ "$DOCKER_SOCK" = /var/run/docker.sock ]; then
    own_dockerd=0
    log "docker engine: not answering, systemctl start docker"
    systemctl start docker || warn "systemctl start docker failed"
  else
    log "docker engine: not answering, starting dockerd (log: $DOCKERD_LOG)"
    start_dockerd
  fi
  waited=0
  until docker_ping; do
    if [ "$waited" -ge "$DOCKER_TIMEOUT" ]; then
      engine_fail "docker engine did not answer on $DOCKER_SOCK within ${DOCKER_TIMEOUT}s"
    fi
    if [ "$own_dockerd" = 1 ] && ! alive "$DOCKERD_PID"; then
      dockerd_exited # fails, or returns when a retry makes sense
      sleep 1
      waited=$((waited + 1))
      start_dockerd
      continue
    fi
    sleep 1
    waited=$((waited + 1))
  done
  log "docker engine: answering after ${waited}s"
fi

# ---------------------------------------------------------------- images
# image_hash NAME: the build-inputs label of a local image, empty if none.
image_hash() {
  docker image inspect -f "{{ index .Config.Labels \"$HASH_LABEL\" }}" "$1" 2>/dev/null | sed 's/^<no value>$//' || true
}

# inputs_hash FILE...: one sha256 over the names and contents of the inputs.
inputs_hash() {
  local f
  for f in "$@"; do
    printf '%s %s\n' "$(basename "$f")" "$(sha256sum <"$f" | cut -d' ' -f1)"
  done | sha256sum | cut -d' ' -f1
}

# why_build NAME HAVE_HASH: why NAME must be (re)built, for the log.
why_build() {
  if [ -n "$2" ]; then echo "sources changed, rebuilding"
  elif docker image inspect "$1" >/dev/null 2>&1; then echo "exists without the build-inputs label, rebuilding"
  else echo "missing, building"
  fi
}

# build_image NAME HASH CONTEXT_DIR: build, then drop the image it replaced
# if that is now untagged and unused (docker refuses when a container uses it).
build_image() {
  local name=$1 hash=$2 ctx=$3 out old new
  old=$(docker image inspect -f '{{.Id}}' "$name" 2>/dev/null || true)
  if ! out=$(docker build -q --label "$HASH_LABEL=$hash" -t "$name" "$ctx" 2>&1); then
    echo "$out" >&2
    die "docker build of $name failed"
  fi
  new=$(docker image inspect -f '{{.Id}}' "$name")
  if [ -n "$old" ] && [ "$old" != "$new" ] &&
    [ "$(docker image inspect -f '{{len .RepoTags}}' "$old" 2>/dev/null || true)" = 0 ]; then
    docker image rm "$old" >/dev/null 2>&1 || true
  fi
}

# The pause image: its inputs are the source, the Dockerfile and the flags.
PAUSE_SRC="$REPO_ROOT/scripts/pause"
PAUSE_CFLAGS="-static -O2 -Wall -Wextra"
pause_hash=$( { inputs_hash "$PAUSE_SRC/pause.c" "$PAUSE_SRC/Dockerfile"; echo "gcc $PAUSE_CFLAGS"; } | sha256sum | cut -d' ' -f1)
have=$(image_hash "$PAUSE_IMAGE")
if [ "$have" = "$pause_hash" ]; then
  log "image $PAUSE_IMAGE: up to date"
else
  log "image $PAUSE_IMAGE: $(why_build "$PAUSE_IMAGE" "$have")"
  BUILD_TMP=$(mktemp -d /tmp/bosun-build.XXXXXX)
  mkdir "$BUILD_TMP/pause"
  # shellcheck disable=SC2086 # PAUSE_CFLAGS is a list of flags
  gcc $PAUSE_CFLAGS -o "$BUILD_TMP/pause/pause" "$PAUSE_SRC/pause.c" || die "gcc of pause.c failed"
  strip "$BUILD_TMP/pause/pause" 2>/dev/null || true
  cp "$PAUSE_SRC/Dockerfile" "$BUILD_TMP/pause/Dockerfile"
  build_image "$PAUSE_IMAGE" "$pause_hash" "$BUILD_TMP/pause"
  log "image $PAUSE_IMAGE: built"
fi

# The busybox image: its inputs are the Dockerfile and Debian's busybox.
BUSYBOX_SRC="$REPO_ROOT/scripts/images/busybox"
BUSYBOX_BIN=/bin/busybox
[ -x "$BUSYBOX_BIN" ] || die "$BUSYBOX_BIN missing (package busybox-static)"
busybox_hash=$(inputs_hash "$BUSYBOX_SRC/Dockerfile" "$BUSYBOX_BIN")
have=$(image_hash "$BUSYBOX_IMAGE")
if [ "$have" = "$busybox_hash" ]; then
  log "image $BUSYBOX_IMAGE: up to date"
else
  log "image $BUSYBOX_IMAGE: $(why_build "$BUSYBOX_IMAGE" "$have")"
  BUILD_TMP=${BUILD_TMP:-$(mktemp -d /tmp/bosun-build.XXXXXX)}
  mkdir "$BUILD_TMP/busybox"
  cp "$BUSYBOX_SRC/Dockerfile" "$BUILD_TMP/busybox/Dockerfile"
  cp "$BUSYBOX_BIN" "$BUILD_TMP/busybox/busybox"
  build_image "$BUSYBOX_IMAGE" "$busybox_hash" "$BUILD_TMP/busybox"
  log "image $BUSYBOX_IMAGE: built"
fi

# ---------------------------------------------------------------- kernel
if [ "$(cat /proc/sys/net/ipv4/ip_forward 2>/dev/null || echo 0)" != 1 ]; then
  sysctl -q -w net.ipv4.ip_forward=1 >/dev/null || warn "could not enable net.ipv4.ip_forward"
fi
log "sysctl: net.ipv4.ip_forward=$(cat /proc/sys/net/ipv4/ip_forward 2>/dev/null || echo '?')"
# Every agent, engine and control-plane process watches files with an inotify instance of its
# own, all as root; Debian's 128 ran out with a test run and a cluster up (agents then fell back
# to a 20 s re-list of their manifest directory). Raised, never lowered.
if [ "$(cat /proc/sys/fs/inotify/max_user_instances 2>/dev/null || echo 1024)" -lt 1024 ]; then
  sysctl -q -w fs.inotify.max_user_instances=1024 >/dev/null || warn "could not raise fs.inotify.max_user_instances"
fi
log "sysctl: fs.inotify.max_user_instances=$(cat /proc/sys/fs/inotify/max_user_instances 2>/dev/null || echo '?')"

if [ -d /proc/sys/net/bridge ]; then
  log "br_netfilter: loaded"
elif modprobe -q br_netfilter 2>/dev/null; then
  log "br_netfilter: loaded now"
else
  log "br_netfilter: not available (ignored)"
fi

# The real control plane of the cluster tests (test/cluster/, scripts/cluster.sh): built from
# its Go modules once per version into ${BOSUN_CACHE:-/var/cache/bosun}; a complete cache is
# reused in a second. A cold build takes about half an hour on 2 cores (README, "Joining a
# Kubernetes cluster"). BOSUN_SKIP_CLUSTER_BUILD=1 leaves it out, and with it the agnhost
# image below. It comes before the containerd section, which imports the local images.
AGNHOST_IMAGE="localhost/bosun/agnhost:1"

# build_agnhost_image E2E_BIN_DIR: upstream's agnhost (test/images/agnhost of the same release,
# built by build-e2e.sh) as a small local image, for the scenario tests that need its servers
# (grpc-health-checking: a real grpc.health.v1 server). Laid out as upstream's image
# (/agnhost, ENTRYPOINT), on bosun's busybox for a shell. Rebuilt when the binary changes.
build_agnhost_image() {
  local bin="$1/agnhost" dockerfile hash have
  [ -x "$bin" ] || die "$bin missing (scripts/cluster/build-e2e.sh)"
  dockerfile=$(printf 'FROM %s\nCOPY agnhost /agnhost\nEXPOSE 5000 8080\nENTRYPOINT ["/agnhost"]\nCMD ["pause"]\n' "$BUSYBOX_IMAGE")
  hash=$( { inputs_hash "$bin"; printf '%s\n' "$dockerfile"; docker image inspect -f '{{.Id}}' "$BUSYBOX_IMAGE"; } | sha256sum | cut -d' ' -f1)
  have=$(image_hash "$AGNHOST_IMAGE")
  if [ "$have" = "$hash" ]; then
    log "image $AGNHOST_IMAGE: up to date"
    return
  fi
  log "image $AGNHOST_IMAGE: $(why_build "$AGNHOST_IMAGE" "$have")"
  BUILD_TMP=${BUILD_TMP:-$(mktemp -d /tmp/bosun-build.XXXXXX)}
  mkdir "$BUILD_TMP/agnhost"
  cp "$bin" "$BUILD_TMP/agnhost/agnhost"
  printf '%s\n' "$dockerfile" >"$BUILD_TMP/agnhost/Dockerfile"
  build_image "$AGNHOST_IMAGE" "$hash" "$BUILD_TMP/agnhost"
  log "image $AGNHOST_IMAGE: built"
}

if [ "${BOSUN_SKIP_CLUSTER_BUILD:-0}" != 1 ]; then
  command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"
  command -v go >/dev/null || die "go (1.26 or later) is needed to build the control plane for the cluster tests; BOSUN_SKIP_CLUSTER_BUILD=1 skips it"
  log "cluster components: $("$REPO_ROOT/scripts/cluster/build.sh" | tr '\n' ' ')"
  # Upstream's e2e suite of the same release, for the NodeConformance run (test/conformance/):
  # e2e.test, the ginkgo CLI and the test images' binaries, cached beside the control plane.
  e2e_bin=$("$REPO_ROOT/scripts/cluster/build-e2e.sh" | sed -n 's/^E2E_BIN=//p' | tail -n 1)
  [ -n "$e2e_bin" ] || die "scripts/cluster/build-e2e.sh did not say where it put the suite"
  log "conformance suite: E2E_BIN=$e2e_bin"
  build_agnhost_image "$e2e_bin"
fi

# ---------------------------------------------------------------- containerd
# A containerd of bosun's own, with the CRI plugin, beside (never instead of) the
# Docker engine's containerd at /run/containerd/containerd.sock: its own config, root,
# state, socket and CNI network (10.245.0.0/16 on bosun-cni0; Docker's pod network is
# 10.244.0.0/16 on bosun0). The local images are imported into its k8s.io namespace.
#   BOSUN_CONTAINERD_SOCK     its socket (/run/bosun-containerd/containerd.sock)
#   BOSUN_CONTAINERD_TIMEOUT  seconds to wait for it (30)
CTD_SOCK="${BOSUN_CONTAINERD_SOCK:-/run/bosun-containerd/containerd.sock}"
CTD_TIMEOUT="${BOSUN_CONTAINERD_TIMEOUT:-30}"
# Not under /etc/bosun: that directory belongs to install.sh, whose --uninstall removes it.
CTD_ETC=/etc/bosun-containerd
CTD_ROOT=/var/lib/bosun-containerd
CTD_STATE=/run/bosun-containerd/state
CTD_LOG=/var/log/bosun-containerd.log
CTD_POD_CIDR=10.245.0.0/16
CTD_BRIDGE=bosun-cni0

ctd_ping() { [ -S "$CTD_SOCK" ] && timeout 5 ctr -a "$CTD_SOCK" version >/dev/null 2>&1; }

# write_if_changed FILE: stdin to FILE unless it already holds exactly that.
write_if_changed() {
  local tmp
  tmp=$(mktemp "$1.XXXXXX")
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; return 1; fi
  mv -f "$tmp" "$1"
}

setup_containerd() {
  local need=() changed=0 pid waited=0
  command -v containerd >/dev/null 2>&1 || need+=(containerd)
  [ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
  if [ "${#need[@]}" -gt 0 ]; then
    log "containerd: installing ${need[*]}"
    apt_install "${need[@]}"
  fi
  log "containerd: $(containerd --version | awk '{print $3}')"

  # Earlier versions kept this config in /etc/bosun/containerd.
  if [ -d /etc/bosun/containerd ]; then rm -rf /etc/bosun/containerd; rmdir /etc/bosun 2>/dev/null || true; fi
  mkdir -p "$CTD_ETC/cni" "$CTD_ETC/certs.d" "$CTD_ROOT" "$CTD_STATE" "$(dirname "$CTD_SOCK")"
  write_if_changed "$CTD_ETC/config.toml" <<TOML && changed=1
# Written by bosun's scripts/setup-host.sh --containerd; rewritten on change.
version = 2
root = "$CTD_ROOT"
state = "$CTD_STATE"

[grpc]
  address = "$CTD_SOCK"

[ttrpc]
  address = "$CTD_SOCK.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CTD_ETC/cni"
    max_conf_num = 1
  # Per-registry hosts.toml (mirrors, CA, plain HTTP), read at each pull: scripts/registry.sh
  # and bosun's registryMirrors write there without a restart.
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$CTD_ETC/certs.d"
TOML
  write_if_changed "$CTD_ETC/cni/10-bosun.conflist" <<JSON && changed=1
{
  "cniVersion": "0.4.0",
  "name": "bosun-cni",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$CTD_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "$CTD_POD_CIDR" }]],
        "routes": [{ "dst": "0.0.0.0/0" }],
        "dataDir": "$CTD_ROOT/cni-ipam"
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
JSON

  pid=$(cat "$CTD_STATE/../containerd.pid" 2>/dev/null || true)
  if ctd_ping && [ "$changed" = 1 ] && [ -n "$pid" ] && alive "$pid"; then
    log "containerd: config changed, restarting pid $pid (containers keep running)"
    kill "$pid"
    while alive "$pid" && [ "$waited" -lt 20 ]; do sleep 0.5; waited=$((waited + 1)); done
  fi
  if ctd_ping; then
    log "containerd: running ($CTD_SOCK)"
  else
    if [ "$(stat -c %s "$CTD_LOG" 2>/dev/null || echo 0)" -gt 20000000 ]; then mv -f "$CTD_LOG" "$CTD_LOG.1"; fi
    echo "==== setup-host: starting containerd at $(date -u +%FT%TZ) ====" >>"$CTD_LOG"
    setsid nohup containerd --config "$CTD_ETC/config.toml" >>"$CTD_LOG" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$CTD_STATE/../containerd.pid"
    log "containerd: started, pid $pid (log: $CTD_LOG)"
    waited=0
    until ctd_ping; do
      if ! alive "$pid" || [ "$waited" -ge $((CTD_TIMEOUT * 2)) ]; then
        echo "setup-host: ---- last lines of $CTD_LOG ----" >&2
        tail -n 30 "$CTD_LOG" >&2 || true
        die "containerd did not answer on $CTD_SOCK"
      fi
      sleep 0.5
      waited=$((waited + 1))
    done
  fi

  # Images: docker save | ctr import, when the image in containerd is not the one
  # Docker has (a marker per image holds the Docker image id that was imported).
  mkdir -p "$CTD_ROOT/bosun-imported"
  local img id marker
  for img in $(docker images --format '{{.Repository}}:{{.Tag}}' | grep '^localhost/bosun/' | sort -u); do
    id=$(docker image inspect -f '{{.Id}}' "$img")
    marker="$CTD_ROOT/bosun-imported/$(printf '%s' "$img" | tr '/:' '__')"
    if [ "$(cat "$marker" 2>/dev/null || true)" = "$id" ] &&
      ctr -a "$CTD_SOCK" -n k8s.io images ls -q "name==$img" 2>/dev/null | grep -qx "$img"; then
      log "containerd image $img: up to date"
      continue
    fi
    docker save "$img" | ctr -a "$CTD_SOCK" -n k8s.io images import - >/dev/null ||
      die "importing $img into containerd failed"
    echo "$id" >"$marker"
    log "containerd image $img: imported"
  done
}

if [ "$WANT_CONTAINERD" = 1 ]; then
  setup_containerd
fi

log "done in $(( ($(date +%s%N) - START) / 1000000 )) ms"

#!/usr/bin/env bash
# A real systemd as PID 1 of its own PID, mount and cgroup namespaces, for testing
# bosun.service under the service manager (systemd is not PID 1 on these machines).
#
#   systemd-sandbox.sh start DIR [SHARED_DIR...]  prints the sandbox's PID 1 (host pid)
#   systemd-sandbox.sh exec PID CMD...            runs CMD inside (systemctl, journalctl, ...)
#   systemd-sandbox.sh stop PID                   kills the sandbox and everything in it
#
# Why an overlay root: a systemd that boots on the host's own root runs the sysinit units
# (systemd-tmpfiles empties /tmp, journald, ...) against the host's files. Here it boots on
# an overlay whose upper layer is a tmpfs, so whatever it or an install writes disappears
# with it. Only the Docker and bosun-containerd sockets and the SHARED_DIRs (the test's pod
# directories, which the engine outside must see at the same paths) are the host's own.
# docker.service and containerd.service are masked inside: the engine stays the host's.
#
# Why its own cgroups: systemd, as PID 1, moves every process of the root of its tracking
# hierarchies (cgroup2 "unified" and name=systemd on this cgroup-v1 host) into init.scope.
# With the host's hierarchies bound in, that root is the host's, and the host's own PID 1
# and every other process were moved into the sandbox's init.scope. The sandbox
# is started in a child cgroup of those two hierarchies and mounts them afresh inside its
# cgroup namespace, so systemd sees only its own subtree. The controller hierarchies (cpu,
# memory, ...) stay the host's: the agent inside and the engine outside must agree on pod
# cgroup paths.
set -euo pipefail

TRACKING=(/sys/fs/cgroup/unified /sys/fs/cgroup/systemd)

inner() {
  local dir=$1; shift
  local r="$dir/sandbox"
  mount --make-rprivate /
  mkdir -p "$r"
  mount -t tmpfs -o mode=0700 bosun-systemd-sandbox "$r"
  mkdir -p "$r/upper" "$r/work" "$r/root"
  mount -t overlay overlay -o "lowerdir=/,upperdir=$r/upper,workdir=$r/work" "$r/root"
  mount -t proc proc "$r/root/proc"
  mount --rbind /sys "$r/root/sys"
  # Mounted inside the new cgroup namespace, these show only the sandbox's subtree (the
  # host's are unmounted first: the kernel refuses a filesystem on top of itself).
  umount "$r/root/sys/fs/cgroup/unified" "$r/root/sys/fs/cgroup/systemd"
  mount -t cgroup2 bosun-sandbox-cgroup2 "$r/root/sys/fs/cgroup/unified"
  mount -t cgroup -o none,name=systemd bosun-sandbox-systemd "$r/root/sys/fs/cgroup/systemd"
  mount --rbind /dev "$r/root/dev"
  mount -t tmpfs -o mode=0755 run "$r/root/run"
  mount -t tmpfs tmp "$r/root/tmp"
  local s
  for s in /run/docker.sock /run/bosun-containerd; do
    [ -e "$s" ] || continue
    if [ -d "$s" ]; then mkdir -p "$r/root$s"; else touch "$r/root$s"; fi
    mount --bind "$s" "$r/root$s"
  done
  for s in "$@"; do
    mkdir -p "$s" "$r/root$s"
    mount --bind "$s" "$r/root$s"
  done
  mkdir -p "$r/root/run/systemd/system"
  for s in docker.service docker.socket containerd.service; do ln -sf /dev/null "$r/root/run/systemd/system/$s"; done
  cat >"$r/root/run/systemd/system/bosun-sandbox.target" <<'UNIT'
[Unit]
Description=bosun systemd sandbox
Wants=systemd-journald.socket
UNIT
  cd "$r/root"
  mkdir -p .old-root
  pivot_root . .old-root
  umount -l /.old-root
  exec env container=bosun-sandbox /lib/systemd/systemd --system --unit=bosun-sandbox.target
}

case "${1:-}" in
  start)
    dir=$2; shift 2
    mkdir -p "$dir"
    setsid "$0" __launch "bosun-systemd-sandbox-$$" "$dir" "$@" >"$dir/sandbox.log" 2>&1 </dev/null &
    launcher=$!
    # PID 1 of the new namespace is the child of unshare.
    for _ in $(seq 100); do
      pid=$(pgrep -P "$launcher" -x systemd || true)
      if [ -n "$pid" ] && nsenter -t "$pid" -m -p -- systemctl is-system-running --wait >/dev/null 2>&1 </dev/null; then
        echo "$pid"
        exit 0
      fi
      sleep 0.2
    done
    echo "systemd-sandbox: systemd did not come up (log: $dir/sandbox.log)" >&2
    [ -n "${pid:-}" ] && kill -KILL "$pid" 2>/dev/null
    exit 1
    ;;
  __launch)
    # Into the sandbox's own tracking cgroups first: the cgroup namespace made below is
    # rooted where this process is.
    cg=$2; shift 2
    for h in "${TRACKING[@]}"; do
      mkdir "$h/$cg"
      echo $$ >"$h/$cg/cgroup.procs"
    done
    exec unshare --pid --fork --mount --cgroup --mount-proc "$0" __inner "$@"
    ;;
  __inner)
    shift
    inner "$@"
    ;;
  exec)
    pid=$2; shift 2
    exec nsenter -t "$pid" -m -p -- "$@"
    ;;
  stop)
    pid=$2
    # kill 0 or a negative pid would signal process groups of the caller.
    [[ "$pid" =~ ^[1-9][0-9]*$ ]] || { echo "systemd-sandbox: stop: not a pid: '$pid'" >&2; exit 2; }
    # The sandbox's tracking cgroup, as the host sees it (e.g. 0::/bosun-systemd-sandbox-N/init.scope).
    cg=$(sed -n 's|^0::/\(bosun-systemd-sandbox-[0-9]*\)/.*|\1|p' "/proc/$pid/cgroup" 2>/dev/null || true)
    # SIGKILL of a namespace's PID 1 kills every process in it; the mounts go with the
    # namespace. The empty cgroups systemd made in the host's hierarchies stay: remove them.
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    find /sys/fs/cgroup -mindepth 2 -depth -type d \( -path '*/system.slice*' -o -path '*/init.scope*' -o -name '*.mount' -o -name '*.socket' \) \
      -exec rmdir {} \; 2>/dev/null || true
    if [ -n "$cg" ]; then
      for h in "${TRACKING[@]}"; do
        [ -d "$h/$cg" ] && find "$h/$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
      done
    fi
    ;;
  *)
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac

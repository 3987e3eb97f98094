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
set -euo pipefail

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
    setsid unshare --pid --fork --mount --cgroup --mount-proc "$0" __inner "$dir" "$@" >"$dir/sandbox.log" 2>&1 </dev/null &
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
    # SIGKILL of a namespace's PID 1 kills every process in it; the mounts go with the
    # namespace. The empty cgroups systemd made in the host's hierarchies stay: remove them.
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    find /sys/fs/cgroup -mindepth 2 -depth -type d \( -path '*/system.slice*' -o -path '*/init.scope*' -o -name '*.mount' -o -name '*.socket' \) \
      -exec rmdir {} \; 2>/dev/null || true
    ;;
  *)
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac

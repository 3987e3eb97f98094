#!/usr/bin/env bash
# Install bosun from this checkout as a system service, or upgrade it in place.
#
# Usage: scripts/install.sh              build and install (re-run to upgrade)
#        scripts/install.sh --uninstall  remove bosun; pods' data stays
#        scripts/install.sh --uninstall --purge
#                                        also remove /var/lib/bosun and /var/log/pods
#                                        (refused while pod containers still run:
#                                        `bosun drain` first)
#        --root DIR                      every path below under DIR instead of /, and
#                                        systemd left alone (a private install, e.g. a test)
#
# Installs:
#   /opt/bosun/                   the build (dist/, production node_modules/, package.json)
#   /usr/local/bin/bosun          the command (a wrapper: exec node /opt/bosun/dist/agent/cli.js)
#   /etc/bosun/config.yaml        commented defaults; never overwritten once there
#   /etc/bosun/bosun.env          BOSUN_ARGS= extra flags for the service; never overwritten
#   /etc/systemd/system/bosun.service
#   /etc/kubernetes/manifests, /var/lib/bosun, /var/log/pods (when missing)
# and, when systemd is PID 1, enables and starts the service (restarts it on upgrade: pods
# keep running). Needs root, node >= 20.5 and npm (installed with apt-get when missing);
# the only network it uses is the Debian and npm registries.
set -euo pipefail

UNINSTALL=0
PURGE=0
ROOT=
while [ $# -gt 0 ]; do
  case "$1" in
    --uninstall) UNINSTALL=1 ;;
    --purge) PURGE=1 ;;
    --root)
      [ $# -ge 2 ] && [ -n "$2" ] || { echo "install: --root needs a directory" >&2; exit 2; }
      mkdir -p "$2" && ROOT=$(cd "$2" && pwd) || exit 2
      [ "$ROOT" = / ] && ROOT=
      shift ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install: unknown argument: $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

PREFIX=$ROOT/opt/bosun
BIN=$ROOT/usr/local/bin/bosun
ETC=$ROOT/etc/bosun
UNIT=$ROOT/etc/systemd/system/bosun.service
MANIFESTS=$ROOT/etc/kubernetes/manifests
# Directories this script created, one per line: uninstall removes them when empty.
CREATED="$ETC/.created-dirs"
DATA_DIRS=("$ROOT/var/lib/bosun" "$ROOT/var/log/pods")
if [ "$PURGE" = 1 ] && [ "$UNINSTALL" = 0 ]; then
  echo "install: --purge goes with --uninstall" >&2
  exit 2
fi

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

log() { echo "install: $*"; }
warn() { echo "install: WARNING: $*" >&2; }
die() { echo "install: ERROR: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

# systemd is the service manager only when it is PID 1 (sd_booted's test); a private
# install (--root) never touches the host's service.
systemd_running() { [ -z "$ROOT" ] && [ -d /run/systemd/system ]; }

# Pids of bosun agents started from the installed copy (however they were started).
installed_agents() {
  local p
  for p in /proc/[0-9]*; do
    tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q "^[^ ]*node $PREFIX/dist/agent/cli.js run" && echo "${p#/proc/}"
  done
  return 0
}

# Running containers of bosun pods (any node name on this engine).
running_pod_containers() {
  command -v docker >/dev/null 2>&1 || return 0
  docker ps -q --filter label=bosun.io/node-name 2>/dev/null || true
}

# ---------------------------------------------------------------- uninstall
if [ "$UNINSTALL" = 1 ]; then
  if [ "$PURGE" = 1 ] && [ -n "$(running_pod_containers)" ]; then
    die "--purge: $(running_pod_containers | wc -l) pod containers still run and use /var/lib/bosun; run \`bosun drain\` first (or remove them: docker rm -f \$(docker ps -aq --filter label=bosun.io/node-name))"
  fi
  if systemd_running; then
    log "stopping and disabling bosun.service (pods keep running)"
    systemctl disable --now bosun.service >/dev/null 2>&1 || true
  fi
  for pid in $(installed_agents); do
    log "stopping the agent running from $PREFIX (pid $pid; pods keep running)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { warn "pid $pid still running after 30 s, killing it"; kill -KILL "$pid" 2>/dev/null || true; }
  done
  rm -f "$UNIT" "$ROOT"/etc/systemd/system/*.wants/bosun.service
  rm -rf "$UNIT.d"
  if systemd_running; then systemctl daemon-reload || true; fi
  if [ -f "$BIN" ] && grep -q "$PREFIX/" "$BIN"; then rm -f "$BIN"; fi
  rm -rf "$PREFIX" "$PREFIX.new" "$PREFIX.old"
  created=()
  if [ -f "$CREATED" ]; then mapfile -t created <"$CREATED"; fi
  rm -rf "$ETC"
  if [ "$PURGE" = 1 ]; then
    for d in "${DATA_DIRS[@]}"; do
      [ -e "$d" ] && { log "purging $d"; rm -rf "$d"; }
    done
  fi
  # Deepest first; only when empty: what is in them is not ours to delete.
  for ((i = ${#created[@]} - 1; i >= 0; i--)); do
    rmdir "${created[$i]}" 2>/dev/null || true
  done
  [ -d "$MANIFESTS" ] && log "kept $MANIFESTS ($(find "$MANIFESTS" -mindepth 1 -maxdepth 1 | wc -l) entries: your pod manifests)"
  for d in "${DATA_DIRS[@]}"; do
    [ -d "$d" ] && log "kept $d (pods' data; --uninstall --purge removes it)"
  done
  n=$(running_pod_containers | wc -l)
  if [ "$n" -gt 0 ]; then
    log "$n bosun pod containers are still running: uninstalling never stops pods (\`bosun drain\` before it does; or docker rm -f \$(docker ps -aq --filter label=bosun.io/node-name))"
  fi
  log "bosun uninstalled"
  exit 0
fi

# ---------------------------------------------------------------- prerequisites
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  log "installing nodejs and npm with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -q && apt-get install -y -q --no-install-recommends nodejs npm; } >/tmp/bosun-install-apt.log 2>&1 ||
    { tail -n 20 /tmp/bosun-install-apt.log >&2; die "apt-get failed (log: /tmp/bosun-install-apt.log)"; }
  hash -r
fi
NODE=$(command -v node)
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=5)?0:1)' ||
  die "node $(node --version) is too old: bosun needs node >= 20.5"

# ---------------------------------------------------------------- build
# In a scratch copy of the checkout: the checkout's own node_modules and dist stay as they
# are (someone may be running tests in it), and the install gets exactly what was built.
STAGE=$(mktemp -d /tmp/bosun-install.XXXXXX)
trap 'rm -rf "$STAGE"' EXIT
log "building from $REPO_ROOT"
cp "$REPO_ROOT/package.json" "$REPO_ROOT/package-lock.json" "$REPO_ROOT/tsconfig.json" "$STAGE/"
# The source folders tsconfig.json compiles, except the tests.
for d in $(cd "$REPO_ROOT" && node -e 'for (const d of JSON.parse(require("fs").readFileSync("tsconfig.json","utf8")).include) if (d !== "test") console.log(d)'); do
  [ -d "$REPO_ROOT/$d" ] && cp -a "$REPO_ROOT/$d" "$STAGE/$d"
done
(
  cd "$STAGE"
  npm ci --no-audit --no-fund --prefer-offline --loglevel=error >npm.log 2>&1 || { tail -n 30 npm.log >&2; exit 1; }
  ./node_modules/.bin/tsc -p tsconfig.json || exit 1
  npm prune --omit=dev --no-audit --no-fund --loglevel=error >>npm.log 2>&1 || { tail -n 30 npm.log >&2; exit 1; }
) || die "build failed"

# ---------------------------------------------------------------- install
VERSION=$(node -p 'require(process.argv[1]).version' "$STAGE/package.json")
NEW="$PREFIX.new"
rm -rf "$NEW" "$PREFIX.old"
mkdir -p "$NEW"
cp -a "$STAGE/dist" "$STAGE/node_modules" "$STAGE/package.json" "$STAGE/package-lock.json" "$NEW/"
cp "$REPO_ROOT/README.md" "$NEW/README.md"
cp "$REPO_ROOT/scripts/config.yaml" "$NEW/config.yaml"
cp "$REPO_ROOT/scripts/bosun.service" "$NEW/bosun.service"
{
  echo "version=$VERSION"
  echo "commit=$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO_ROOT" diff --quiet HEAD -- 2>/dev/null || echo '+changes')"
  echo "source=$REPO_ROOT"
  echo "installed=$(date -u +%FT%TZ)"
} >"$NEW/BUILD"
UPGRADE=0
if [ -d "$PREFIX" ]; then
  UPGRADE=1
  mv "$PREFIX" "$PREFIX.old"
fi
mv "$NEW" "$PREFIX"
rm -rf "$PREFIX.old"
log "installed bosun $VERSION in $PREFIX"

# exec: under systemd the agent itself is the main PID (NotifyAccess=main, KillMode=process).
mkdir -p "$(dirname "$BIN")"
printf '#!/bin/sh\n# Installed by bosun scripts/install.sh\nexec %s %s/dist/agent/cli.js "$@"\n' "$NODE" "$PREFIX" >"$BIN.tmp"
chmod 0755 "$BIN.tmp"
mv "$BIN.tmp" "$BIN"

# mkdir_recorded DIR MODE: create DIR (and parents) if missing, remembering what was created.
mkdir_recorded() {
  local d=$1 mode=$2 missing=() p
  p=$d
  while [ ! -e "$p" ]; do missing=("$p" "${missing[@]}"); p=$(dirname "$p"); done
  for p in "${missing[@]}"; do
    mkdir -m "$mode" "$p"
    grep -qxF "$p" "$CREATED" 2>/dev/null || echo "$p" >>"$CREATED"
  done
}
install -d -m 0755 "$ETC"
touch "$CREATED"
if [ -e "$ETC/config.yaml" ]; then
  cmp -s "$ETC/config.yaml" "$PREFIX/config.yaml" || log "kept your $ETC/config.yaml (the shipped defaults are in $PREFIX/config.yaml)"
else
  install -m 0644 "$REPO_ROOT/scripts/config.yaml" "$ETC/config.yaml"
  log "wrote $ETC/config.yaml (commented defaults)"
fi
if [ ! -e "$ETC/bosun.env" ]; then
  cat >"$ETC/bosun.env" <<'EOF'
# Extra flags for `bosun run` (see `bosun --help`), read by bosun.service. Flags win over
# /etc/bosun/config.yaml. Example:
#   BOSUN_ARGS=--node-name node1 --log-format text
BOSUN_ARGS=
EOF
  chmod 0644 "$ETC/bosun.env"
  log "wrote $ETC/bosun.env"
fi
mkdir_recorded "$MANIFESTS" 0755
mkdir_recorded "${DATA_DIRS[0]}" 0700
mkdir_recorded "${DATA_DIRS[1]}" 0755

mkdir -p "$(dirname "$UNIT")"
install -m 0644 "$REPO_ROOT/scripts/bosun.service" "$UNIT"
log "installed $UNIT"

# ---------------------------------------------------------------- start
if systemd_running; then
  systemctl daemon-reload
  if [ "$UPGRADE" = 1 ] && systemctl is-active --quiet bosun.service; then
    log "restarting bosun.service on the new build (pods keep running)"
    systemctl restart bosun.service
  else
    systemctl enable --now bosun.service
  fi
  log "bosun.service: $(systemctl is-active bosun.service || true); logs: journalctl -u bosun -f"
else
  log "systemd is not PID 1 here: the service was installed but not started."
  log "  when this host boots with systemd: systemctl daemon-reload && systemctl enable --now bosun"
  log "  to run it now the way the unit does:"
  log "    set -a; . $ETC/bosun.env; set +a"
  log "    setsid nohup $BIN run --config $ETC/config.yaml \$BOSUN_ARGS >>/var/log/bosun.log 2>&1 </dev/null &"
  pids=$(installed_agents | tr '\n' ' ')
  [ -n "$pids" ] && log "  an agent from $PREFIX is running (pid $pids): restart it to use this build (pods keep running)"
fi
log "check this host with: bosun doctor"

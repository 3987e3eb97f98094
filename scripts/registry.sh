#!/usr/bin/env bash
# Test image registries on 127.0.0.1 (Debian's docker-registry, distribution 2.8), shared
# by the image tests, the benchmarks and the conformance suite.
#
# Usage:
#   scripts/registry.sh start NAME [--auth USER:PASSWORD] [--port N]
#       Starts registry NAME (a fresh, empty one) and prints its host:port. With --auth it
#       serves HTTPS with a certificate from bosun's test CA and asks for basic auth
#       (htpasswd). Either way both engines are told how to reach it: Docker through
#       /etc/docker/certs.d/<host:port>/ca.crt (read at each pull, no restart), bosun's
#       containerd through <certs dir>/<host:port>/hosts.toml (its config_path, also read at
#       each pull).
#   scripts/registry.sh push NAME IMAGE REPO:TAG
#       Pushes the local Docker image IMAGE as <host:port>/REPO:TAG (the local tag made for
#       it is removed again) and prints the pushed digest reference.
#   scripts/registry.sh stop NAME
#       Stops it and removes its storage and the engine trust entries.
#   scripts/registry.sh down NAME      stops its process only (storage and trust stay)
#   scripts/registry.sh up NAME        starts it again on the same address, with the same storage
#   scripts/registry.sh addr NAME      prints host:port of a running registry
#   scripts/registry.sh prune [MIN]    stops registries started more than MIN (60) minutes ago
#                                      (left by interrupted runs)
#   scripts/registry.sh ca             prints the test CA's certificate path (made on first use)
#
# Environment:
#   BOSUN_REGISTRY_DIR    state of the registries (/var/lib/bosun-registry)
#   BOSUN_CONTAINERD_CERTS  bosun's containerd config_path (/etc/bosun-containerd/certs.d)
#   BOSUN_DOCKER_CERTS    Docker's certs.d (/etc/docker/certs.d)
set -euo pipefail

ROOT="${BOSUN_REGISTRY_DIR:-/var/lib/bosun-registry}"
CTD_CERTS="${BOSUN_CONTAINERD_CERTS:-/etc/bosun-containerd/certs.d}"
DOCKER_CERTS="${BOSUN_DOCKER_CERTS:-/etc/docker/certs.d}"
CA_DIR="$ROOT/ca"

die() { echo "registry.sh: $*" >&2; exit 1; }

valid_name() { [[ "$1" =~ ^[a-z0-9][a-z0-9-]{0,40}$ ]] || die "invalid registry name \"$1\" (lowercase letters, digits, -)"; }

alive() {
  local st
  st=$(ps -o stat= -p "$1" 2>/dev/null || true)
  [ -n "$st" ] && [ "${st#Z}" = "$st" ]
}

ensure_ca() {
  mkdir -p "$CA_DIR"
  if [ ! -s "$CA_DIR/ca.crt" ] || [ ! -s "$CA_DIR/ca.key" ]; then
    (umask 077 && openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=bosun test registry CA" \
      -keyout "$CA_DIR/ca.key.tmp" -out "$CA_DIR/ca.crt.tmp" 2>/dev/null) || die "openssl could not make the test CA"
    chmod 644 "$CA_DIR/ca.crt.tmp"
    mv -f "$CA_DIR/ca.key.tmp" "$CA_DIR/ca.key"
    mv -f "$CA_DIR/ca.crt.tmp" "$CA_DIR/ca.crt"
  fi
}

free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 20000))
    if ! ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; then echo "$p"; return; fi
  done
  die "no free port found"
}

cmd_start() {
  local name=$1; shift
  valid_name "$name"
  local auth="" port=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --auth) auth=${2:?--auth needs USER:PASSWORD}; shift 2 ;;
      --port) port=${2:?--port needs a number}; shift 2 ;;
      *) die "unknown argument: $1" ;;
    esac
  done
  command -v docker-registry >/dev/null 2>&1 || die "docker-registry missing (run scripts/setup-host.sh)"
  local dir="$ROOT/$name"
  [ -e "$dir" ] && cmd_stop "$name" >/dev/null
  mkdir -p "$dir/data"
  chmod 700 "$dir"
  [ -n "$port" ] || port=$(free_port)
  local addr="127.0.0.1:$port" scheme=http tls="" htauth=""
  if [ -n "$auth" ]; then
    command -v htpasswd >/dev/null 2>&1 || die "htpasswd missing (package apache2-utils; run scripts/setup-host.sh)"
    ensure_ca
    scheme=https
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$dir/tls.key" -out "$dir/tls.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$dir/ext.cnf"
    openssl x509 -req -in "$dir/tls.csr" -CA "$CA_DIR/ca.crt" -CAkey "$CA_DIR/ca.key" -CAcreateserial \
      -days 30 -extfile "$dir/ext.cnf" -out "$dir/tls.crt" 2>/dev/null || die "openssl could not sign the registry certificate"
    # The password goes on stdin (-i), never on a command line other processes can read.
    printf '%s' "${auth#*:}" | htpasswd -iBc "$dir/htpasswd" "${auth%%:*}" 2>/dev/null || die "htpasswd failed"
    (umask 077 && printf '%s' "$auth" >"$dir/auth")
    tls="  tls:
    certificate: $dir/tls.crt
    key: $dir/tls.key"
    htauth="auth:
  htpasswd:
    realm: bosun-test
    path: $dir/htpasswd"
  fi
  cat >"$dir/config.yml" <<YAML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: $addr
  secret: $(openssl rand -hex 16)
$tls
$htauth
YAML
  echo "$addr" >"$dir/addr"
  echo "$scheme" >"$dir/scheme"
  launch "$dir"
  # Trust for both engines before the first pull.
  mkdir -p "$DOCKER_CERTS/$addr" "$CTD_CERTS/$addr"
  if [ "$scheme" = https ]; then
    cp "$CA_DIR/ca.crt" "$DOCKER_CERTS/$addr/ca.crt"
    printf 'server = "https://%s"\n\n[host."https://%s"]\n  capabilities = ["pull", "resolve", "push"]\n  ca = "%s"\n' \
      "$addr" "$addr" "$CA_DIR/ca.crt" >"$CTD_CERTS/$addr/hosts.toml"
  else
    printf 'server = "http://%s"\n\n[host."http://%s"]\n  capabilities = ["pull", "resolve", "push"]\n' \
      "$addr" "$addr" >"$CTD_CERTS/$addr/hosts.toml"
  fi
  if wait_ready "$dir"; then echo "$addr"; return 0; fi
  cat "$dir/log" >&2 || true
  cmd_stop "$name" >/dev/null
  die "registry $name did not answer on $addr"
}

launch() {
  setsid nohup docker-registry serve "$1/config.yml" >>"$1/log" 2>&1 </dev/null &
  echo $! >"$1/pid"
}

wait_ready() {
  local dir=$1 i code addr scheme
  addr=$(cat "$dir/addr")
  scheme=$(cat "$dir/scheme" 2>/dev/null || echo http)
  for i in $(seq 1 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA_DIR/ca.crt" "$scheme://$addr/v2/" 2>/dev/null || true)
    if [ "$code" = 200 ] || [ "$code" = 401 ]; then return 0; fi
    alive "$(cat "$dir/pid")" || return 1
    sleep 0.1
  done
  return 1
}

kill_registry() {
  local pid i
  pid=$(cat "$1/pid" 2>/dev/null || true)
  if [ -n "$pid" ] && alive "$pid" && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = docker-registry ]; then
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && kill -9 "$pid" 2>/dev/null || true
  fi
  return 0
}

cmd_down() {
  valid_name "$1"
  [ -d "$ROOT/$1" ] || die "registry $1 does not exist"
  kill_registry "$ROOT/$1"
}

cmd_up() {
  valid_name "$1"
  local dir="$ROOT/$1"
  [ -f "$dir/config.yml" ] || die "registry $1 does not exist"
  kill_registry "$dir"
  launch "$dir"
  wait_ready "$dir" || die "registry $1 did not answer again"
  cat "$dir/addr"
}

cmd_addr() {
  valid_name "$1"
  cat "$ROOT/$1/addr" 2>/dev/null || die "registry $1 is not running"
}

cmd_push() {
  local name=$1 image=$2 target=$3 addr dir cfg digest
  valid_name "$name"
  addr=$(cmd_addr "$name")
  dir="$ROOT/$name"
  [[ "$target" =~ ^[a-z0-9][a-z0-9._/-]*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "invalid target \"$target\" (repo:tag)"
  # A private client config: never root's ~/.docker/config.json.
  cfg="$dir/docker-config"
  mkdir -p "$cfg"
  docker tag "$image" "$addr/$target"
  trap 'docker rmi "$addr/$target" >/dev/null 2>&1 || true' RETURN
  if [ -s "$dir/auth" ]; then
    local auth
    auth=$(cat "$dir/auth")
    printf '%s' "${auth#*:}" | docker --config "$cfg" login -u "${auth%%:*}" --password-stdin "$addr" >/dev/null 2>&1 ||
      die "docker login to $addr failed"
  fi
  docker --config "$cfg" push -q "$addr/$target" >/dev/null || die "push of $image to $addr/$target failed"
  digest=$(docker image inspect -f '{{range .RepoDigests}}{{println .}}{{end}}' "$addr/$target" | grep "^$addr/${target%%:*}@" | head -n1)
  echo "$digest"
}

cmd_stop() {
  local name=$1 dir addr
  valid_name "$name"
  dir="$ROOT/$name"
  [ -d "$dir" ] || return 0
  addr=$(cat "$dir/addr" 2>/dev/null || true)
  kill_registry "$dir"
  if [ -n "$addr" ]; then
    rm -rf "${DOCKER_CERTS:?}/$addr" "${CTD_CERTS:?}/$addr"
  fi
  rm -rf "$dir"
  echo "stopped $name"
}

cmd_prune() {
  local min=${1:-60} d
  [[ "$min" =~ ^[0-9]+$ ]] || die "prune: minutes must be a number"
  [ -d "$ROOT" ] || return 0
  for d in "$ROOT"/*/; do
    d=${d%/}
    [ "$(basename "$d")" = ca ] && continue
    [ -f "$d/config.yml" ] || continue
    if [ -n "$(find "$d/config.yml" -mmin +"$min" 2>/dev/null)" ]; then cmd_stop "$(basename "$d")"; fi
  done
}

case "${1:-}" in
  start) shift; [ $# -ge 1 ] || die "usage: start NAME [--auth USER:PASSWORD] [--port N]"; cmd_start "$@" ;;
  push) shift; [ $# -eq 3 ] || die "usage: push NAME IMAGE REPO:TAG"; cmd_push "$@" ;;
  stop) shift; [ $# -eq 1 ] || die "usage: stop NAME"; cmd_stop "$1" ;;
  down) shift; [ $# -eq 1 ] || die "usage: down NAME"; cmd_down "$1" ;;
  up) shift; [ $# -eq 1 ] || die "usage: up NAME"; cmd_up "$1" ;;
  addr) shift; [ $# -eq 1 ] || die "usage: addr NAME"; cmd_addr "$1" ;;
  prune) shift; cmd_prune "${1:-60}" ;;
  ca) ensure_ca; echo "$CA_DIR/ca.crt" ;;
  *) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac

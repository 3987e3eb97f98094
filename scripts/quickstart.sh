#!/usr/bin/env bash
# Quick start: set up the host, build bosun, and run the agent on the sample pods in
# examples/ (copied into the manifest directory). Safe to re-run: it restarts the agent
# on the new build, and the pods it already runs are adopted, not restarted.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

MANIFESTS=${BOSUN_MANIFESTS:-/etc/kubernetes/manifests}
LOG=${BOSUN_LOG:-/var/log/bosun.log}
PIDFILE=/run/bosun.pid

./scripts/setup-host.sh
echo "==> installing npm dependencies and building"
npm ci --no-audit --no-fund --loglevel=error
npm run --silent build

echo "==> placing the sample pods in $MANIFESTS"
mkdir -p "$MANIFESTS"
cp examples/*.yaml "$MANIFESTS/"

if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  echo "==> stopping the running agent (its pods keep running)"
  kill "$(cat "$PIDFILE")"
  # The new agent refuses to start while the old one holds the root-dir lock: wait for it.
  for _ in $(seq 600); do kill -0 "$(cat "$PIDFILE")" 2>/dev/null || break; sleep 0.1; done
fi
echo "==> starting the agent (log: $LOG)"
setsid nohup node dist/agent/cli.js run --pod-manifest-path "$MANIFESTS" --log-format text >>"$LOG" 2>&1 </dev/null &
echo $! >"$PIDFILE"

bosun() { node dist/agent/cli.js "$@"; }
for _ in $(seq 60); do
  sleep 1
  out=$(bosun get pods 2>/dev/null || true)
  # Done when every pod has left Pending/ContainerCreating.
  if [ -n "$out" ] && ! grep -qE 'Pending|ContainerCreating|PodInitializing|Init:' <<<"$out"; then break; fi
done

echo
bosun get pods -o wide
ip=$(bosun get pods -o json | node -e 'const l=JSON.parse(require("fs").readFileSync(0,"utf8"));const p=l.items.find(p=>p.metadata.labels&&p.metadata.labels.app==="web");process.stdout.write(p&&p.status.podIP||"")')
echo
echo "bosun is running (pid $(cat "$PIDFILE")). Try:"
tip() { printf '  %-48s # %s\n' "$1" "$2"; }
tip "curl http://${ip:-<web pod IP>}:8080/" "the web pod answers on its pod IP"
tip "npx bosun get pods -o wide" "the pods, as kubectl shows them"
tip "docker ps --filter label=io.kubernetes.pod.uid" "their containers"
tip "vi $MANIFESTS/web.yaml" "edit, add or delete files: the pods follow"
tip "tail -f $LOG" "the agent's log"
tip "kill \$(cat $PIDFILE)" "stop the agent (pods keep running)"

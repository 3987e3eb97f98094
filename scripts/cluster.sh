#!/usr/bin/env bash
# A real Kubernetes control plane on 127.0.0.1 with this machine's bosun as its node.
#
#   scripts/cluster.sh up [--no-node]   build what is missing (scripts/cluster/build.sh), make
#                                       the certificates, start etcd, kube-apiserver,
#                                       kube-controller-manager, kube-scheduler and (unless
#                                       --no-node) a bosun node joined to them; the last line
#                                       is KUBECONFIG=<admin kubeconfig>
#   scripts/cluster.sh down             stop all of it and remove its pods, rules and state
#   scripts/cluster.sh node-credential NAME [IP]
#                                       a node's client credential (CN system:node:NAME,
#                                       O system:nodes), its serving pair (for 127.0.0.1 and
#                                       IP) and kubeconfig; prints the directory
#   scripts/cluster.sh env              the paths and ports, as shell assignments
#
# Both up and down are idempotent. Everything listens on 127.0.0.1 only.
# Settings (environment): BOSUN_CLUSTER_DIR (state, default /var/lib/bosun-cluster),
# BOSUN_CLUSTER_PORT_BASE (default 16440: API server +3, etcd +4/+5, controller-manager +6,
# scheduler +7, the bosun node's kubelet port +8 and healthz +9), BOSUN_CLUSTER_NODE (node
# name, default bosun-local), BOSUN_CACHE (built components, default /var/cache/bosun),
# BOSUN_SERVICE_CIDR (default 10.96.0.0/12, the range bosun routes to its bridge).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${BOSUN_CLUSTER_DIR:-/var/lib/bosun-cluster}"
base="${BOSUN_CLUSTER_PORT_BASE:-16440}"
node="${BOSUN_CLUSTER_NODE:-bosun-local}"
service_cidr="${BOSUN_SERVICE_CIDR:-10.96.0.0/12}"
api_port=$((base + 3)) etcd_port=$((base + 4)) etcd_peer_port=$((base + 5))
cm_port=$((base + 6)) sched_port=$((base + 7)) node_port=$((base + 8)) node_healthz_port=$((base + 9))
pki="$dir/pki" run="$dir/run" logs="$dir/logs"
server="https://127.0.0.1:$api_port"

die() { echo "cluster.sh: $*" >&2; exit 1; }
say() { echo "cluster.sh: $*" >&2; }

[[ "$node" =~ ^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$ ]] || die "BOSUN_CLUSTER_NODE: \"$node\" is not a lowercase RFC 1123 subdomain"
[[ "$base" =~ ^[0-9]+$ ]] && ((base > 1024 && base < 65500)) || die "BOSUN_CLUSTER_PORT_BASE: \"$base\" is not a port number between 1025 and 65499"

binaries() {
  local out
  out="$("$repo/scripts/cluster/build.sh")"
  K8S_BIN="$(sed -n 's/^K8S_BIN=//p' <<<"$out")"
  ETCD_BIN="$(sed -n 's/^ETCD_BIN=//p' <<<"$out")"
  kubectl=("$K8S_BIN/kubectl" --kubeconfig "$pki/admin.kubeconfig")
}

# ---- certificates (openssl; argv only) --------------------------------------------------

ca() {
  [[ -s "$pki/ca.crt" ]] && return
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=bosun-cluster-ca" \
    -keyout "$pki/ca.key" -out "$pki/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
}

# issue NAME SUBJECT USAGE [SAN]: NAME.key and NAME.crt signed by the cluster CA.
issue() {
  local name="$1" subj="$2" usage="$3" san="${4:-}"
  [[ -s "$pki/$name.crt" ]] && return
  local ext; ext="$(mktemp)"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    [[ -n "$san" ]] && echo "subjectAltName=$san"
  } >"$ext"
  openssl req -new -newkey rsa:2048 -nodes -subj "$subj" -keyout "$pki/$name.key" -out "$pki/$name.csr" 2>/dev/null
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 3650 -extfile "$ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$ext" "$pki/$name.csr"
  chmod 600 "$pki/$name.key"
}

# kubeconfig FILE CERTNAME: a kubeconfig for the API server with that client pair.
kubeconfig() {
  local file="$1" cert="$2"
  umask 077
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: bosun
  cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 "$pki/ca.crt")
users:
- name: $cert
  user:
    client-certificate-data: $(base64 -w0 "$pki/$cert.crt")
    client-key-data: $(base64 -w0 "$pki/$cert.key")
contexts:
- name: bosun
  context: {cluster: bosun, user: $cert}
current-context: bosun
EOF
}

certificates() {
  mkdir -p "$pki" && chmod 700 "$pki"
  ca
  # The API server is reached as 127.0.0.1 and, from pods, as the first Service IP.
  local svc_ip; svc_ip="$(python3 -c 'import ipaddress,sys; print(ipaddress.ip_network(sys.argv[1])[1])' "$service_cidr")"
  issue apiserver "/CN=kube-apiserver" serverAuth \
    "IP:127.0.0.1,IP:$svc_ip,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  issue apiserver-kubelet-client "/CN=kube-apiserver-kubelet-client" clientAuth
  issue admin "/O=system:masters/CN=bosun-admin" clientAuth
  issue controller-manager "/CN=system:kube-controller-manager" clientAuth
  issue scheduler "/CN=system:kube-scheduler" clientAuth
  issue kube-proxy "/CN=system:kube-proxy" clientAuth
  [[ -s "$pki/sa.key" ]] || { openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null && openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null; }
  local c
  for c in admin controller-manager scheduler kube-proxy; do kubeconfig "$pki/$c.kubeconfig" "$c"; done
}

node_credential() {
  local name="$1" ip="${2:-}" san
  [[ "$name" =~ ^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$ ]] || die "node name \"$name\" is not a lowercase RFC 1123 subdomain"
  san="IP:127.0.0.1,DNS:localhost,DNS:$name"
  if [[ -n "$ip" ]]; then
    python3 -c 'import ipaddress,sys; ipaddress.IPv4Address(sys.argv[1])' "$ip" 2>/dev/null || die "node address \"$ip\" is not an IPv4 address"
    san+=",IP:$ip"
    # A pair issued before for another address is issued again.
    if [[ -s "$pki/node-$name-serving.crt" ]] && ! openssl x509 -in "$pki/node-$name-serving.crt" -noout -checkip "$ip" | grep -q 'does match'; then
      rm -f "$pki/node-$name-serving.crt" "$pki/node-$name-serving.key"
    fi
  fi
  certificates
  # The Node authorizer and NodeRestriction know a node by this identity.
  issue "node-$name" "/O=system:nodes/CN=system:node:$name" clientAuth
  # What the API server checks (--kubelet-certificate-authority) when it dials the node: the
  # InternalIP it dials (kube-apiserver refuses to proxy to a loopback one).
  issue "node-$name-serving" "/O=system:nodes/CN=system:node:$name" serverAuth "$san"
  kubeconfig "$pki/node-$name.kubeconfig" "node-$name"
}

# ---- processes ---------------------------------------------------------------------------

# start NAME BINARY ARGS...: runs it in its own session, pid in run/NAME.pid, log in logs/NAME.log.
start() {
  local name="$1"; shift
  if alive "$name"; then return; fi
  setsid "$@" >>"$logs/$name.log" 2>&1 </dev/null &
  echo $! >"$run/$name.pid"
}

# The pid of NAME when it still runs the program it was started as (a reused pid is not ours).
pid_of() {
  local f="$run/$1.pid" pid
  [[ -s "$f" ]] || return 1
  pid="$(<"$f")"
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  grep -qa -- "$dir" "/proc/$pid/cmdline" || return 1
  echo "$pid"
}
alive() { pid_of "$1" >/dev/null; }

stop() {
  local name="$1" pid
  pid="$(pid_of "$name")" || { rm -f "$run/$name.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$run/$name.pid"
}

# wait_for WHAT SECONDS CMD...: CMD succeeds within SECONDS, or the component's log tail is shown.
wait_for() {
  local what="$1" secs="$2"; shift 2
  for _ in $(seq 1 $((secs * 2))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  tail -n 30 "$logs/$what.log" >&2 2>/dev/null || true
  die "$what did not come up within ${secs}s (log: $logs/$what.log)"
}

https_ok() { curl -fsS --max-time 2 --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" "$1"; }

up_control_plane() {
  mkdir -p "$run" "$logs" "$dir/etcd"
  start etcd "$ETCD_BIN/etcd" --name bosun --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster "bosun=http://127.0.0.1:$etcd_peer_port" --listen-metrics-urls "" --log-level warn
  wait_for etcd 60 curl -fsS --max-time 2 "http://127.0.0.1:$etcd_port/health"

  # The flags of a real cluster (hack/local-up-cluster.sh): the Node authorizer and
  # NodeRestriction, the API server's own client pair for the node's port, checked against
  # the cluster CA. The endpoint reconciler stays off: it would publish 127.0.0.1 as the
  # kubernetes Service's endpoint, which Endpoints validation refuses.
  start kube-apiserver "$K8S_BIN/kube-apiserver" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --client-ca-file "$pki/ca.crt" --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --service-account-issuer https://kubernetes.default.svc \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$pki/ca.crt" --kubelet-preferred-address-types InternalIP \
    --service-cluster-ip-range "$service_cidr" --endpoint-reconciler-type none \
    --allow-privileged=true --profiling=false
  wait_for kube-apiserver 180 https_ok "$server/readyz"

  # Lets the API server's kubelet client call the node's API (logs, exec, port-forward).
  "${kubectl[@]}" create clusterrolebinding bosun:kube-apiserver-kubelet-api-admin \
    --clusterrole system:kubelet-api-admin --user kube-apiserver-kubelet-client --dry-run=client -o yaml \
    | "${kubectl[@]}" apply -f - >/dev/null

  start kube-controller-manager "$K8S_BIN/kube-controller-manager" \
    --kubeconfig "$pki/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$cm_port" --leader-elect=false \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" --use-service-account-credentials \
    --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
    --service-cluster-ip-range "$service_cidr" --allocate-node-cidrs=false --profiling=false
  start kube-scheduler "$K8S_BIN/kube-scheduler" \
    --kubeconfig "$pki/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$sched_port" --leader-elect=false --profiling=false
  # Their own ports serve only /healthz here (no delegated authentication: the API server has
  # no request-header CA for it to read). Generous waits: a loaded 2-core machine is slow.
  wait_for kube-controller-manager 180 curl -fsSk --max-time 2 "https://127.0.0.1:$cm_port/healthz"
  wait_for kube-scheduler 180 curl -fsSk --max-time 2 "https://127.0.0.1:$sched_port/healthz"
  # Pods are refused until their namespace's default ServiceAccount exists (the controller
  # manager makes it) and need the cluster CA it publishes: both before anyone creates a pod.
  wait_for kube-controller-manager 180 "${kubectl[@]}" get serviceaccount/default configmap/kube-root-ca.crt -n default
}

up_node() {
  node_credential "$node"
  [[ -f "$repo/dist/agent/cli.js" ]] || (cd "$repo" && npm run build >/dev/null)
  mkdir -p "$dir/node/manifests"
  start bosun node "$repo/dist/agent/cli.js" run \
    --kubeconfig "$pki/node-$node.kubeconfig" --node-name "$node" --node-ip 127.0.0.1 \
    --root-dir "$dir/node/root" --pod-manifest-path "$dir/node/manifests" \
    --port "$node_port" --tls-cert-file "$pki/node-$node-serving.crt" --tls-private-key-file "$pki/node-$node-serving.key" \
    --client-ca-file "$pki/ca.crt" --healthz-port "$node_healthz_port" --read-only-port 0 \
    --authorization-mode Webhook --authentication-token-webhook=true \
    --service-cluster-ip-range "$service_cidr" \
    --proxy-mode iptables --proxy-kubeconfig "$pki/kube-proxy.kubeconfig"
  wait_for bosun 60 curl -fsS --max-time 2 "http://127.0.0.1:$node_healthz_port/healthz"
  wait_for bosun 60 "${kubectl[@]}" wait --for=condition=Ready "node/$node" --timeout 2s
}

down() {
  local had_node=0
  alive bosun && had_node=1
  stop bosun
  # Its Service rules and route (a test's node, started elsewhere, cleans up its own).
  if ((had_node)) && [[ -f "$repo/dist/agent/cli.js" ]]; then
    node "$repo/dist/agent/cli.js" proxy cleanup --service-cluster-ip-range "$service_cidr" >/dev/null 2>&1 || say "bosun proxy cleanup reported problems"
  fi
  # The node's pods: every container bosun labelled with this node's name.
  if command -v docker >/dev/null && [[ -S /var/run/docker.sock ]]; then
    local ids; ids="$(docker ps -aq --filter "label=bosun.io/node-name=$node" 2>/dev/null || true)"
    [[ -z "$ids" ]] || docker rm -f $ids >/dev/null 2>&1 || true
  fi
  if [[ -d "$dir/node/root" ]]; then
    # Volumes bosun mounted (tmpfs for secrets and tokens) before the state goes.
    grep -F " $dir/node/root/" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  fi
  stop kube-scheduler
  stop kube-controller-manager
  stop kube-apiserver
  stop etcd
  rm -rf "$dir"
}

case "${1:-}" in
  up)
    with_node=1
    [[ "${2:-}" == "--no-node" ]] && with_node=0
    binaries
    certificates
    up_control_plane
    ((with_node)) && up_node
    echo "KUBECONFIG=$pki/admin.kubeconfig"
    ;;
  down)
    down
    ;;
  node-credential)
    [[ -n "${2:-}" ]] || die "usage: cluster.sh node-credential NODE-NAME [IP]"
    node_credential "$2" "${3:-}"
    echo "$pki"
    ;;
  env)
    binaries
    echo "K8S_BIN=$K8S_BIN"
    echo "ETCD_BIN=$ETCD_BIN"
    echo "CLUSTER_DIR=$dir"
    echo "API_SERVER=$server"
    echo "NODE_PORT=$node_port"
    echo "KUBECONFIG=$pki/admin.kubeconfig"
    ;;
  *)
    sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac

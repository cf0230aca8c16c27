# shellcheck shell=bash
# The opt-in `cluster` profile of scripts/testenv: a real single-node Kubernetes cluster.
#
#   scripts/testenv cluster up       start it (the default profile must be up: it uses its registry
#                                    and S3); builds what is missing on the first run
#   scripts/testenv cluster status   one line per component; exit 0 only when all are healthy and
#                                    the node is Ready
#   scripts/testenv cluster env      print `export` lines (KUBECONFIG of the cluster, ...)
#   scripts/testenv cluster logs [COMPONENT]
#   scripts/testenv cluster down     stop it (pods, containerd, kubelet, control plane); data kept
#
# Sourced by scripts/testenv (which defines STATE, TOOLS_CACHE, K8S_BIN, the default profile's
# ports and `healthy`, and sources the supervisor, scripts/testenv.d/supervise.sh, which runs the
# components here too: pid files in $STATE/cluster/run, logs in $STATE/cluster/logs). Everything lives under $STATE/cluster, with ports of its own (266xx), so
# it never touches the default profile's etcd and kube-apiserver: other tests keep a control plane
# with no kubelet, scheduler or controller-manager, exactly as before.
#
# What runs: etcd + kube-apiserver (own ports), kube-controller-manager, kube-scheduler, containerd
# (Debian's, own config/socket/root, native snapshotter, runc, CNI from containernetworking-plugins)
# and a kubelet on its CRI (cgroupfs, no QoS cgroups, no swap check). Node name: `localhost` (the
# kubelet refuses a loopback node IP; the API server reaches it by hostname instead, for logs/exec).
# The pause image (images/pause), the kaniko executor (images/kaniko) and crane (images/crane) are built here and pushed
# to the default profile's open registry; containerd pulls from it over plain HTTP.

CSTATE="$STATE/cluster"
_co=$((${TESTENV_PORT_OFFSET:-0}))
PORT_C_ETCD=$((26620 + _co))
PORT_C_ETCD_PEER=$((26621 + _co))
PORT_C_APISERVER=$((26643 + _co))
PORT_C_KUBELET=$((26650 + _co))
PORT_C_KUBELET_HEALTHZ=$((26648 + _co))
PORT_C_CM=$((26657 + _co))
PORT_C_SCHED=$((26659 + _co))
unset _co
C_NODE=localhost
# The pod network follows the cluster API server's port, so two clusters on one machine (each with
# its own TESTENV_PORT_OFFSET) never share a bridge, a subnet or a gateway address: the two bytes
# of the port are the subnet's middle octets (26643 -> 10.104.19.0/24, bridge la-c26643).
C_POD_CIDR="10.$((PORT_C_APISERVER >> 8)).$((PORT_C_APISERVER & 255)).0/24"
C_GATEWAY="10.$((PORT_C_APISERVER >> 8)).$((PORT_C_APISERVER & 255)).1"
C_BRIDGE="la-c$PORT_C_APISERVER"
CONTAINERD_SOCKET="$CSTATE/run/containerd.sock"
C_PAUSE_IMAGE="127.0.0.1:$PORT_REGISTRY/testenv/pause:3.10-go"
C_KANIKO_IMAGE="127.0.0.1:$PORT_REGISTRY/testenv/kaniko-executor:$KANIKO_VERSION"
C_NODE_IMAGE="127.0.0.1:$PORT_REGISTRY/testenv/agent-node:$(node --version 2>/dev/null || echo none)"
# scripts/demo's base image (images/demo-base): Debian's busybox-static, FROM scratch.
C_DEMO_BASE_IMAGE="127.0.0.1:$PORT_REGISTRY/testenv/demo-base:busybox-static"
KANIKO_BIN="$TOOLS_CACHE/go/kaniko-$KANIKO_VERSION"
# crane, the kaniko build pods' push step (images/crane pins its version).
C_CRANE_VERSION="$(awk '$1 == "require" && $2 == "github.com/google/go-containerregistry" { print $3 }' "$TESTENV_ROOT/images/crane/go.mod")"
C_CRANE_IMAGE="127.0.0.1:$PORT_REGISTRY/testenv/crane:$C_CRANE_VERSION"
CRANE_BIN="$TOOLS_CACHE/go/crane-$C_CRANE_VERSION"

C_COMPONENTS=(etcd kube-apiserver apiserver-forward registry-forward containerd kube-controller-manager kube-scheduler kubelet)

csay() { echo "testenv cluster: $*" >&2; }
cdie() {
  echo "testenv cluster: $*" >&2
  exit 1
}

# The supervisor's files for this profile: $CSTATE/run/NAME.pid, $CSTATE/logs/NAME.log.
SVC_HOME="$CSTATE" SVC_LABEL="testenv cluster"

# Its own lock (fd 8): the default profile's lock is never held while the cluster builds images.
c_lock() {
  mkdir -p "$CSTATE"
  exec 8>"$CSTATE/.lock"
  flock 8
}

c_kubectl() { "$K8S_BIN/kubectl" --kubeconfig "$CSTATE/kubeconfig" "$@"; }

_cdir="$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=cluster-config.sh
source "$_cdir/cluster-config.sh"
# shellcheck source=cluster-images.sh
source "$_cdir/cluster-images.sh"
unset _cdir

# --- components --------------------------------------------------------------------------------------

c_cmd() {
  local p="$CSTATE/pki"
  case "$1" in
    etcd)
      printf '%s\n' "$K8S_BIN/etcd" --name testenv-cluster --data-dir "$CSTATE/data/etcd" \
        --listen-client-urls "http://127.0.0.1:$PORT_C_ETCD" \
        --advertise-client-urls "http://127.0.0.1:$PORT_C_ETCD" \
        --listen-peer-urls "http://127.0.0.1:$PORT_C_ETCD_PEER" \
        --initial-advertise-peer-urls "http://127.0.0.1:$PORT_C_ETCD_PEER" \
        --initial-cluster "testenv-cluster=http://127.0.0.1:$PORT_C_ETCD_PEER" \
        --unsafe-no-fsync --log-level warn
      ;;
    kube-apiserver)
      printf '%s\n' "$K8S_BIN/kube-apiserver" \
        --etcd-servers "http://127.0.0.1:$PORT_C_ETCD" \
        --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$PORT_C_APISERVER" \
        --cert-dir "$p/generated" \
        --tls-cert-file "$p/apiserver.crt" --tls-private-key-file "$p/apiserver.key" \
        --client-ca-file "$STATE/pki/ca.crt" \
        --authorization-mode Node,RBAC \
        --enable-admission-plugins NodeRestriction \
        --kubelet-client-certificate "$p/admin.crt" --kubelet-client-key "$p/admin.key" \
        --kubelet-preferred-address-types Hostname,InternalIP \
        --service-account-issuer https://kubernetes.default.svc.cluster.local \
        --service-account-key-file "$p/sa.pub" \
        --service-account-signing-key-file "$p/sa.key" \
        --service-cluster-ip-range 10.97.0.0/24 \
        --allow-privileged=true --profiling=false --v=1
      ;;
    apiserver-forward)
      printf '%s\n' socat "TCP-LISTEN:$PORT_C_APISERVER,bind=$C_GATEWAY,fork,reuseaddr" \
        "TCP:127.0.0.1:$PORT_C_APISERVER"
      ;;
    registry-forward) # the open registry for pods on the bridge (the agent checks tags there)
      printf '%s\n' socat "TCP-LISTEN:$PORT_REGISTRY,bind=$C_GATEWAY,fork,reuseaddr" \
        "TCP:127.0.0.1:$PORT_REGISTRY"
      ;;
    containerd)
      printf '%s\n' containerd --config "$CSTATE/config/containerd.toml" --log-level info
      ;;
    kube-controller-manager)
      printf '%s\n' "$K8S_BIN/kube-controller-manager" --kubeconfig "$CSTATE/kubeconfig" \
        --authentication-kubeconfig "$CSTATE/kubeconfig" --authorization-kubeconfig "$CSTATE/kubeconfig" \
        --bind-address 127.0.0.1 --secure-port "$PORT_C_CM" --leader-elect=false \
        --service-account-private-key-file "$p/sa.key" --root-ca-file "$STATE/pki/ca.crt" \
        --use-service-account-credentials=false --controllers '*' \
        --concurrent-job-syncs 5 --node-monitor-grace-period 60s --profiling=false --v=1
      ;;
    kube-scheduler)
      printf '%s\n' "$K8S_BIN/kube-scheduler" --kubeconfig "$CSTATE/kubeconfig" \
        --authentication-kubeconfig "$CSTATE/kubeconfig" --authorization-kubeconfig "$CSTATE/kubeconfig" \
        --bind-address 127.0.0.1 --secure-port "$PORT_C_SCHED" --leader-elect=false --profiling=false --v=1
      ;;
    kubelet)
      printf '%s\n' "$K8S_BIN/kubelet" --config "$CSTATE/config/kubelet.yaml" \
        --kubeconfig "$CSTATE/config/kubelet.kubeconfig" --root-dir "$CSTATE/data/kubelet" \
        --cert-dir "$CSTATE/pki/kubelet-generated" --hostname-override "$C_NODE" --v=1
      ;;
  esac
}

c_port() {
  case "$1" in
    etcd) echo "$PORT_C_ETCD" ;;
    kube-apiserver) echo "$PORT_C_APISERVER" ;;
    kube-controller-manager) echo "$PORT_C_CM" ;;
    kube-scheduler) echo "$PORT_C_SCHED" ;;
    kubelet) echo "$PORT_C_KUBELET" ;;
  esac
}

# A unix socket the component listens on (removed before it starts and after it stops).
c_socket() {
  case "$1" in
    containerd) echo "$CONTAINERD_SOCKET" ;;
  esac
}

# Seconds `cluster up` waits for the component to answer its health check.
c_timeout() {
  case "$1" in
    kube-apiserver) echo 180 ;;
    apiserver-forward | registry-forward) echo 30 ;;
    etcd | containerd) echo 60 ;;
    *) echo 120 ;;
  esac
}

c_healthy() {
  local p="$CSTATE/pki"
  case "$1" in
    etcd) [[ "$(curl -s -m 2 "http://127.0.0.1:$PORT_C_ETCD/health" || true)" == *'"health":"true"'* ]] ;;
    kube-apiserver)
      [[ "$(curl -s -m 3 --cacert "$STATE/pki/ca.crt" --cert "$p/admin.crt" --key "$p/admin.key" \
        "https://127.0.0.1:$PORT_C_APISERVER/readyz" || true)" == ok ]]
      ;;
    apiserver-forward) (exec 3<>"/dev/tcp/$C_GATEWAY/$PORT_C_APISERVER") 2>/dev/null ;;
    registry-forward) [[ "$(http_code "http://$C_GATEWAY:$PORT_REGISTRY/v2/")" == 200 ]] ;;
    containerd) [[ -S "$CONTAINERD_SOCKET" ]] && ctr --address "$CONTAINERD_SOCKET" version >/dev/null 2>&1 ;;
    kube-controller-manager) [[ "$(curl -sk -m 2 "https://127.0.0.1:$PORT_C_CM/healthz" || true)" == ok ]] ;;
    kube-scheduler) [[ "$(curl -sk -m 2 "https://127.0.0.1:$PORT_C_SCHED/healthz" || true)" == ok ]] ;;
    kubelet) [[ "$(curl -s -m 2 "http://127.0.0.1:$PORT_C_KUBELET_HEALTHZ/healthz" || true)" == ok ]] ;;
  esac
}

c_start() {
  local name=$1 port socket
  local -a cmd opts=()
  port="$(c_port "$name")"
  [[ -z "$port" ]] || opts+=(--port "$port")
  socket="$(c_socket "$name")"
  [[ -z "$socket" ]] || opts+=(--socket "$socket")
  mapfile -t cmd < <(c_cmd "$name")
  svc_start "$name" "${opts[@]}" -- "${cmd[@]}"
}

c_wait() { svc_wait "$1" "$(c_timeout "$1")" c_healthy "$1"; }

# 0 when the component runs with another command line than c_cmd prints now.
c_changed() {
  local -a cmd
  mapfile -t cmd < <(c_cmd "$1")
  svc_changed "$1" "${cmd[@]}"
}

# Pods' containers run in containerd-shim processes outside containerd's process group: remove
# every pod sandbox through the CRI (crictl-free: ctr's k8s.io namespace) before containerd stops.
c_remove_pods() {
  c_healthy containerd || return 0
  local ctr=(ctr --address "$CONTAINERD_SOCKET" -n k8s.io) id
  for id in $("${ctr[@]}" tasks ls -q 2>/dev/null); do
    "${ctr[@]}" tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
  done
  sleep 1
  for id in $("${ctr[@]}" tasks ls -q 2>/dev/null); do
    "${ctr[@]}" tasks delete -f "$id" >/dev/null 2>&1 || true
  done
  for id in $("${ctr[@]}" containers ls -q 2>/dev/null); do
    "${ctr[@]}" containers delete "$id" >/dev/null 2>&1 || true
  done
  # Pod network namespaces and the kubelet's volume mounts (tmpfs for Secrets/ConfigMaps).
  local m
  while read -r m; do umount -l "$m" 2>/dev/null || true; done < <(
    awk -v d="$CSTATE/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r
  )
}

# The pods' way to the API server: the bridge's gateway address (made here, before any pod, so the
# CNI bridge plugin adopts it) forwards to the API server on 127.0.0.1. There is no kube-proxy, so
# the `kubernetes` Service's ClusterIP leads nowhere: in-cluster clients get
# KUBERNETES_SERVICE_HOST=$C_GATEWAY and KUBERNETES_SERVICE_PORT=$PORT_C_APISERVER instead.
c_bridge() {
  if ! ip link show "$C_BRIDGE" >/dev/null 2>&1; then
    ip link add "$C_BRIDGE" type bridge
  fi
  ip addr show dev "$C_BRIDGE" | grep -q " $C_GATEWAY/24 " || ip addr add "$C_GATEWAY/24" dev "$C_BRIDGE"
  ip link set "$C_BRIDGE" up
}

# --- commands ----------------------------------------------------------------------------------------

c_install() {
  local missing=() p
  for p in containerd containernetworking-plugins runc iproute2 socat busybox-static; do
    [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" == "install ok installed" ]] || missing+=("$p")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    csay "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    # policy-rc.d 101: never start the package's own containerd service.
    local had=false
    [[ -e /usr/sbin/policy-rc.d ]] && had=true
    $had || printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    $had || chmod +x /usr/sbin/policy-rc.d
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    $had || rm -f /usr/sbin/policy-rc.d
  fi
  "$TESTENV_ROOT/scripts/k8s-tools/build" kube-apiserver etcd kube-controller-manager kube-scheduler kubelet kubectl
}

c_wait_node() { # timeout
  local deadline=$((SECONDS + $1))
  until [[ "$(c_kubectl get node "$C_NODE" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]; do
    if ((SECONDS >= deadline)); then
      c_kubectl get node -o wide >&2 || true
      tail -n 30 "$CSTATE/logs/kubelet.log" >&2
      cdie "node $C_NODE not Ready within $1s; log: $CSTATE/logs/kubelet.log"
    fi
    sleep 0.5
  done
}

cluster_up() {
  local start=$SECONDS s
  [[ $(id -u) -eq 0 ]] || cdie "the cluster profile runs containerd and a kubelet: it needs root"
  healthy registry || cdie "the default profile's registry (127.0.0.1:$PORT_REGISTRY) is not up: run scripts/testenv up first"
  [[ "${TESTENV_SKIP_INSTALL:-}" == 1 ]] || c_install
  c_lock
  c_credentials
  c_configs
  c_images
  for s in "${C_COMPONENTS[@]}"; do
    if c_changed "$s"; then
      csay "restarting $s: its command line changed"
      svc_stop "$s"
    fi
  done
  c_bridge
  for s in etcd kube-apiserver apiserver-forward registry-forward containerd; do c_start "$s"; done
  for s in etcd kube-apiserver apiserver-forward registry-forward containerd; do c_wait "$s"; done
  for s in kube-controller-manager kube-scheduler kubelet; do c_start "$s"; done
  for s in kube-controller-manager kube-scheduler kubelet; do c_wait "$s"; done
  c_wait_node 120
  # hostPath PersistentVolumes for the tests live here (storage class `testenv-hostpath`).
  c_kubectl apply -f - >/dev/null <<EOF
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: testenv-hostpath
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: Immediate
EOF
  csay "cluster up in $((SECONDS - start))s: node $C_NODE Ready (state: $CSTATE)"
  # shellcheck disable=SC2016 # printed as it is, for the user to run
  csay 'use it: eval "$(scripts/testenv cluster env)"'
}

cluster_down() {
  c_lock
  # The kubelet first (so it does not restart pods), then the pods, then everything else.
  svc_stop kubelet
  c_remove_pods
  local i
  for ((i = ${#C_COMPONENTS[@]} - 1; i >= 0; i--)); do svc_stop "${C_COMPONENTS[i]}"; done
  ip link del "$C_BRIDGE" 2>/dev/null || true
  csay "stopped (data kept in $CSTATE)"
}

cluster_status() {
  local s line pid state rc=0
  printf '%-24s %-8s %s\n' COMPONENT PID STATE
  for s in "${C_COMPONENTS[@]}"; do
    line="$(svc_status "$s" c_healthy "$s")" || rc=1
    read -r pid state <<<"$line"
    printf '%-24s %-8s %s\n' "$s" "$pid" "$state"
  done
  local ready
  ready="$(c_kubectl get node "$C_NODE" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true)"
  printf '%-24s %-8s %s\n' "node/$C_NODE" - "Ready=${ready:-unknown}"
  [[ "$ready" == True ]] || rc=1
  return $rc
}

cluster_env() {
  cat <<EOF
export TESTENV_CLUSTER_STATE=$(q "$CSTATE")
export TESTENV_CLUSTER_KUBECONFIG=$(q "$CSTATE/kubeconfig")
export TESTENV_CLUSTER_NODE=$(q "$C_NODE")
export TESTENV_CLUSTER_KANIKO_IMAGE=$(q "$C_KANIKO_IMAGE")
export TESTENV_CLUSTER_CRANE_IMAGE=$(q "$C_CRANE_IMAGE")
export TESTENV_CLUSTER_PAUSE_IMAGE=$(q "$C_PAUSE_IMAGE")
export TESTENV_CLUSTER_NODE_IMAGE=$(q "$C_NODE_IMAGE")
export TESTENV_CLUSTER_APISERVER_FROM_PODS=$(q "$C_GATEWAY:$PORT_C_APISERVER")
export TESTENV_CLUSTER_REGISTRY_FROM_PODS=$(q "$C_GATEWAY:$PORT_REGISTRY")
export TESTENV_CLUSTER_DEMO_BASE_IMAGE=$(q "$C_DEMO_BASE_IMAGE")
export TESTENV_CLUSTER_PV_DIR=$(q "$CSTATE/data/pv")
export TESTENV_KUBECTL=$(q "$K8S_BIN/kubectl")
EOF
}

cluster_logs() {
  if [[ $# -gt 0 ]]; then
    svc_logs "$1"
  else
    local s
    for s in "${C_COMPONENTS[@]}"; do
      [[ -f "$(svc_logfile "$s")" ]] || continue
      echo "==> $s <=="
      svc_logs "$s" 20
    done
  fi
}

cluster_main() {
  case "${1:-}" in
    up) cluster_up ;;
    down) cluster_down ;;
    status) cluster_status ;;
    env) cluster_env ;;
    logs) shift; cluster_logs "$@" ;;
    *) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
}

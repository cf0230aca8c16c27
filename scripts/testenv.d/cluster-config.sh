# shellcheck shell=bash
# The cluster profile's certificates, kubeconfigs and configuration files (containerd, CNI,
# kubelet). Sourced by scripts/testenv.d/cluster.sh, which defines CSTATE, the ports and the pod
# network.

# --- credentials (signed by the default profile's CA) ----------------------------------------------

c_issue_cert() { # name subject extensions
  local p="$CSTATE/pki" ca="$STATE/pki"
  openssl genrsa -out "$p/$1.key" 2048 2>/dev/null
  openssl req -new -key "$p/$1.key" -subj "$2" -out "$p/$1.csr" 2>/dev/null
  openssl x509 -req -in "$p/$1.csr" -CA "$ca/ca.crt" -CAkey "$ca/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile <(printf '%s\n' "$3") -out "$p/$1.crt" 2>/dev/null
  rm -f "$p/$1.csr"
}

c_kubeconfig() { # file user-cert-name
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: testenv-cluster
    cluster:
      server: https://127.0.0.1:$PORT_C_APISERVER
      certificate-authority-data: $(base64 -w0 "$STATE/pki/ca.crt")
users:
  - name: $2
    user:
      client-certificate-data: $(base64 -w0 "$CSTATE/pki/$2.crt")
      client-key-data: $(base64 -w0 "$CSTATE/pki/$2.key")
contexts:
  - name: testenv-cluster
    context:
      cluster: testenv-cluster
      user: $2
      namespace: default
current-context: testenv-cluster
EOF
  chmod 600 "$1"
}

c_credentials() {
  mkdir -p "$CSTATE"/{pki,config,data,run,logs}
  chmod 700 "$CSTATE/pki"
  local p="$CSTATE/pki" client="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
  [[ -s "$p/apiserver.crt" ]] || c_issue_cert apiserver "/CN=kube-apiserver" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:10.97.0.1,IP:$C_GATEWAY,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  [[ -s "$p/admin.crt" ]] || c_issue_cert admin "/O=system:masters/CN=testenv-cluster-admin" "$client"
  # The Node authorizer and NodeRestriction know a kubelet by this name and group.
  [[ -s "$p/kubelet.crt" ]] || c_issue_cert kubelet "/O=system:nodes/CN=system:node:$C_NODE" "$client"
  [[ -s "$p/kubelet-serving.crt" ]] || c_issue_cert kubelet-serving "/CN=$C_NODE" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost"
  if [[ ! -s "$p/sa.key" ]]; then
    openssl genrsa -out "$p/sa.key" 2048 2>/dev/null
    openssl rsa -in "$p/sa.key" -pubout -out "$p/sa.pub" 2>/dev/null
  fi
  c_kubeconfig "$CSTATE/kubeconfig" admin
  c_kubeconfig "$CSTATE/config/kubelet.kubeconfig" kubelet
}

c_configs() {
  local c="$CSTATE/config"
  mkdir -p "$c/cni" "$c/certs.d" "$CSTATE/data/cni-ipam" "$CSTATE/data/pv"
  # containerd: everything under the state dir; Debian's containerd package service is not used.
  cat >"$c/containerd.toml" <<EOF
version = 2
root = "$CSTATE/data/containerd"
state = "$CSTATE/run/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "$CONTAINERD_SOCKET"

[ttrpc]
  address = "$CONTAINERD_SOCKET.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "$CSTATE/data/containerd-opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$C_PAUSE_IMAGE"
  disable_apparmor = true
  restrict_oom_score_adj = true
  tolerate_missing_hugetlb_controller = true
  disable_hugetlb_controller = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc || echo /usr/sbin/runc)"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$c/cni"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$c/certs.d"
EOF
  local reg
  for reg in "127.0.0.1:$PORT_REGISTRY" "127.0.0.1:$PORT_AUTH_REGISTRY"; do
    mkdir -p "$c/certs.d/$reg"
    cat >"$c/certs.d/$reg/hosts.toml" <<EOF
server = "http://$reg"

[host."http://$reg"]
  capabilities = ["pull", "resolve"]
EOF
  done
  cat >"$c/cni/10-testenv-bridge.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "testenv-cluster",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$C_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "$C_POD_CIDR" }]],
        "routes": [{ "dst": "0.0.0.0/0" }],
        "dataDir": "$CSTATE/data/cni-ipam"
      }
    }
  ]
}
EOF
  cat >"$c/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: $PORT_C_KUBELET
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $PORT_C_KUBELET_HEALTHZ
tlsCertFile: $CSTATE/pki/kubelet-serving.crt
tlsPrivateKeyFile: $CSTATE/pki/kubelet-serving.key
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: false }
  x509: { clientCAFile: $STATE/pki/ca.crt }
authorization: { mode: AlwaysAllow }
containerRuntimeEndpoint: unix://$CONTAINERD_SOCKET
cgroupDriver: cgroupfs
# The sandbox: no QoS cgroup tree, no node-allocatable enforcement, no swap check.
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
protectKernelDefaults: false
makeIPTablesUtilChains: false
localStorageCapacityIsolation: false
serializeImagePulls: false
clusterDomain: cluster.local
evictionHard: { memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%" }
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
staticPodPath: ""
# Not /var/log/pods: a kubelet removes the log directories of pods it does not know, which would
# be another cluster profile's on the same machine.
podLogsDir: $CSTATE/data/pod-logs
EOF
}

# shellcheck shell=bash
# The default profile's certificates, kubeconfig, registry credentials and configuration files
# (podman, the two registries). Sourced by scripts/testenv, after scripts/testenv.d/lib.sh.
# Credentials are made once and kept; configuration files are rewritten by every `up`.

# --- credentials and configuration ------------------------------------------------------------

pki="$STATE/pki"
auth="$STATE/auth"

# A certificate signed by the test CA: name, subject, extensions (for -extfile).
issue_cert() {
  local name=$1 subj=$2 ext=$3
  openssl genrsa -out "$pki/$name.key" 2048 2>/dev/null
  openssl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr" 2>/dev/null
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile <(printf '%s\n' "$ext") -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr"
}

ensure_credentials() {
  mkdir -p "$pki" "$auth" "$STATE/run" "$STATE/logs" "$STATE/data" "$STATE/config"
  chmod 700 "$pki" "$auth"
  if [[ ! -s "$pki/ca.crt" ]]; then
    openssl genrsa -out "$pki/ca.key" 2048 2>/dev/null
    openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=launch-agent-testenv-ca" -days 3650 \
      -sha256 -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" -out "$pki/ca.crt" 2>/dev/null
    rm -f "$pki/apiserver.crt" "$pki/admin.crt"
  fi
  if [[ ! -s "$pki/apiserver.crt" ]]; then
    issue_cert apiserver "/CN=kube-apiserver" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  fi
  if [[ ! -s "$pki/admin.crt" ]]; then
    # O=system:masters: the built-in cluster-admin group (RBAC allows it everything).
    issue_cert admin "/O=system:masters/CN=testenv-admin" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
  fi
  if [[ ! -s "$pki/sa.key" ]]; then
    openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
    openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  fi
  # The kubeconfig follows the port (TESTENV_PORT_OFFSET); rewritten only when it changes.
  {
    cat <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: testenv
    cluster:
      server: https://127.0.0.1:$PORT_KUBE_APISERVER
      certificate-authority-data: $(base64 -w0 "$pki/ca.crt")
users:
  - name: testenv-admin
    user:
      client-certificate-data: $(base64 -w0 "$pki/admin.crt")
      client-key-data: $(base64 -w0 "$pki/admin.key")
contexts:
  - name: testenv
    context:
      cluster: testenv
      user: testenv-admin
      namespace: default
current-context: testenv
EOF
  } >"$STATE/kubeconfig.tmp"
  chmod 600 "$STATE/kubeconfig.tmp"
  if cmp -s "$STATE/kubeconfig.tmp" "$STATE/kubeconfig"; then
    rm -f "$STATE/kubeconfig.tmp"
  else
    mv -f "$STATE/kubeconfig.tmp" "$STATE/kubeconfig"
  fi
  if [[ ! -s "$auth/registry-password" ]]; then
    echo testenv >"$auth/registry-user"
    openssl rand -hex 16 >"$auth/registry-password.tmp"
    mv "$auth/registry-password.tmp" "$auth/registry-password"
    rm -f "$auth/htpasswd"
  fi
  if [[ ! -s "$auth/htpasswd" ]]; then
    # bcrypt: the only hash distribution's htpasswd auth accepts.
    htpasswd -Bbn "$(cat "$auth/registry-user")" "$(cat "$auth/registry-password")" >"$auth/htpasswd.tmp"
    mv "$auth/htpasswd.tmp" "$auth/htpasswd"
  fi
  [[ -s "$auth/registry-http-secret" ]] || openssl rand -hex 32 >"$auth/registry-http-secret"
}

write_configs() {
  local c="$STATE/config"
  mkdir -p "$STATE/data/podman" "$STATE/run/podman" "$STATE/data/registry-open" \
    "$STATE/data/registry-auth" "$STATE/data/gcs" "$STATE/data/azurite" "$STATE/data/etcd"

  # podman: its own storage, containers.conf and registries.conf under the state dir, so the
  # machine's podman setup is neither used nor changed.
  cat >"$c/containers.conf" <<EOF
[containers]
# The only settings under which containers run in this sandbox.
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$STATE/logs/podman-events.log"
tmp_dir = "$STATE/run/podman"
volume_path = "$STATE/data/podman/volumes"

[network]
network_config_dir = "$STATE/config/podman-networks"
EOF
  cat >"$c/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$STATE/data/podman/storage"
runroot = "$STATE/run/podman/storage"
EOF
  cat >"$c/registries.conf" <<EOF
# The test registries speak plain HTTP.
unqualified-search-registries = ["docker.io"]
short-name-mode = "permissive"

[[registry]]
location = "127.0.0.1:$PORT_REGISTRY"
insecure = true

[[registry]]
location = "localhost:$PORT_REGISTRY"
insecure = true

[[registry]]
location = "127.0.0.1:$PORT_AUTH_REGISTRY"
insecure = true

[[registry]]
location = "localhost:$PORT_AUTH_REGISTRY"
insecure = true
EOF
  mkdir -p "$c/podman-networks"

  registry_config() { # port data-dir [auth]
    cat <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $2
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:$1
  secret: $(cat "$auth/registry-http-secret")
  headers:
    X-Content-Type-Options: [nosniff]
EOF
    if [[ "${3:-}" == auth ]]; then
      cat <<EOF
auth:
  htpasswd:
    realm: testenv
    path: $auth/htpasswd
EOF
    fi
  }
  registry_config "$PORT_REGISTRY" "$STATE/data/registry-open" >"$c/registry-open.yml"
  registry_config "$PORT_AUTH_REGISTRY" "$STATE/data/registry-auth" auth >"$c/registry-auth.yml"
}

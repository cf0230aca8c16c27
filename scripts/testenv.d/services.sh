# shellcheck shell=bash
# The default profile's services: what each one runs, where it listens and how it answers when
# healthy. Sourced by scripts/testenv, after scripts/testenv.d/lib.sh and config.sh; the processes
# are run by scripts/testenv.d/supervise.sh.

# In start order; `down` stops them in reverse (kube-apiserver before etcd).
SERVICES=(etcd kube-apiserver podman registry auth-registry moto fake-gcs azurite)

# What each service runs. Printed as one argument per line, after env assignments (KEY=VALUE).
service_cmd() {
  case "$1" in
    etcd)
      printf '%s\n' "$K8S_BIN/etcd" --name testenv --data-dir "$STATE/data/etcd" \
        --listen-client-urls "http://127.0.0.1:$PORT_ETCD" \
        --advertise-client-urls "http://127.0.0.1:$PORT_ETCD" \
        --listen-peer-urls "http://127.0.0.1:$PORT_ETCD_PEER" \
        --initial-advertise-peer-urls "http://127.0.0.1:$PORT_ETCD_PEER" \
        --initial-cluster "testenv=http://127.0.0.1:$PORT_ETCD_PEER" \
        --unsafe-no-fsync --log-level warn
      ;;
    kube-apiserver)
      printf '%s\n' "$K8S_BIN/kube-apiserver" \
        --etcd-servers "http://127.0.0.1:$PORT_ETCD" \
        --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$PORT_KUBE_APISERVER" \
        --cert-dir "$pki/generated" \
        --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
        --client-ca-file "$pki/ca.crt" \
        --authorization-mode Node,RBAC \
        --service-account-issuer https://kubernetes.default.svc.cluster.local \
        --service-account-key-file "$pki/sa.pub" \
        --service-account-signing-key-file "$pki/sa.key" \
        --service-cluster-ip-range 10.96.0.0/24 \
        --allow-privileged=true --profiling=false --v=1
      ;;
    podman)
      printf '%s\n' "CONTAINERS_CONF=$STATE/config/containers.conf" \
        "CONTAINERS_STORAGE_CONF=$STATE/config/storage.conf" \
        "CONTAINERS_REGISTRIES_CONF=$STATE/config/registries.conf" \
        podman --log-level info system service --time=0 "unix://$PODMAN_SOCKET"
      ;;
    registry) printf '%s\n' docker-registry serve "$STATE/config/registry-open.yml" ;;
    auth-registry) printf '%s\n' docker-registry serve "$STATE/config/registry-auth.yml" ;;
    moto) printf '%s\n' "$TESTENV_VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT_MOTO" ;;
    fake-gcs)
      # scripts/testenv.d/fake-gcs: fake-gcs-server's library, plain HTTP, JSON API also at /.
      printf '%s\n' "$FAKE_GCS_BIN/fake-gcs-server" -host 127.0.0.1 -port "$PORT_FAKE_GCS" \
        -public-host "127.0.0.1:$PORT_FAKE_GCS" -external-url "http://127.0.0.1:$PORT_FAKE_GCS" \
        -backend filesystem -filesystem-root "$STATE/data/gcs"
      ;;
    azurite)
      printf '%s\n' "$TESTENV_ROOT/node_modules/.bin/azurite-blob" \
        --blobHost 127.0.0.1 --blobPort "$PORT_AZURITE_BLOB" --location "$STATE/data/azurite" \
        --skipApiVersionCheck --loose --disableTelemetry
      ;;
  esac
}

service_addr() {
  case "$1" in
    etcd) echo "http://127.0.0.1:$PORT_ETCD" ;;
    kube-apiserver) echo "https://127.0.0.1:$PORT_KUBE_APISERVER" ;;
    podman) echo "unix://$PODMAN_SOCKET" ;;
    registry) echo "http://127.0.0.1:$PORT_REGISTRY" ;;
    auth-registry) echo "http://127.0.0.1:$PORT_AUTH_REGISTRY (htpasswd)" ;;
    moto) echo "http://127.0.0.1:$PORT_MOTO" ;;
    fake-gcs) echo "http://127.0.0.1:$PORT_FAKE_GCS" ;;
    azurite) echo "http://127.0.0.1:$PORT_AZURITE_BLOB/$AZURITE_ACCOUNT" ;;
  esac
}

service_port() {
  case "$1" in
    etcd) echo "$PORT_ETCD" ;;
    kube-apiserver) echo "$PORT_KUBE_APISERVER" ;;
    registry) echo "$PORT_REGISTRY" ;;
    auth-registry) echo "$PORT_AUTH_REGISTRY" ;;
    moto) echo "$PORT_MOTO" ;;
    fake-gcs) echo "$PORT_FAKE_GCS" ;;
    azurite) echo "$PORT_AZURITE_BLOB" ;;
  esac
}

# A unix socket the service listens on (removed before it starts and after it stops).
service_socket() {
  case "$1" in
    podman) echo "$PODMAN_SOCKET" ;;
  esac
}

# Seconds `up` waits for the service to answer its health check.
service_timeout() {
  case "$1" in
    kube-apiserver) echo 180 ;;
    *) echo 60 ;;
  esac
}

http_code() { curl -s -o /dev/null -m 2 -w '%{http_code}' "$@" || true; }

# 0 when the service answers as it should.
healthy() {
  case "$1" in
    etcd) [[ "$(curl -s -m 2 "http://127.0.0.1:$PORT_ETCD/health" || true)" == *'"health":"true"'* ]] ;;
    kube-apiserver)
      [[ "$(curl -s -m 3 --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
        "https://127.0.0.1:$PORT_KUBE_APISERVER/readyz" || true)" == ok ]]
      ;;
    podman) [[ -S "$PODMAN_SOCKET" && "$(curl -s -m 2 --unix-socket "$PODMAN_SOCKET" http://d/_ping || true)" == OK ]] ;;
    registry) [[ "$(http_code "http://127.0.0.1:$PORT_REGISTRY/v2/")" == 200 ]] ;;
    auth-registry) [[ "$(http_code "http://127.0.0.1:$PORT_AUTH_REGISTRY/v2/")" == 401 ]] ;;
    moto) [[ "$(http_code "http://127.0.0.1:$PORT_MOTO/moto-api/")" == 200 ]] ;;
    fake-gcs) [[ "$(http_code "http://127.0.0.1:$PORT_FAKE_GCS/storage/v1/b")" == 200 ]] ;;
    azurite) [[ "$(http_code "http://127.0.0.1:$PORT_AZURITE_BLOB/$AZURITE_ACCOUNT?comp=list")" =~ ^[234] ]] ;;
  esac
}

# Containers run by podman live in conmon processes outside the service's process group: remove
# them (and so their processes) through podman itself before the service stops.
remove_containers() {
  [[ -f "$STATE/config/containers.conf" ]] || return 0
  command -v podman >/dev/null || return 0
  CONTAINERS_CONF="$STATE/config/containers.conf" \
    CONTAINERS_STORAGE_CONF="$STATE/config/storage.conf" \
    CONTAINERS_REGISTRIES_CONF="$STATE/config/registries.conf" \
    timeout 60 podman rm --all --force --time 0 >/dev/null 2>>"$STATE/logs/podman.log" || true
}

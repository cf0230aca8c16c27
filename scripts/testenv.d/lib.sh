# shellcheck shell=bash
# Shared definitions for scripts/testenv and scripts/install-system-deps: versions, the tool
# cache, the state directory and, defined once, every port the test environment listens on.

TESTENV_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../versions.env
source "$TESTENV_ROOT/scripts/versions.env"

# Tools built or installed once per machine, shared by every clone (CI's too).
TOOLS_CACHE="${LAUNCH_AGENT_TOOLS_DIR:-$HOME/.cache/launch-agent-tools}"
K8S_BIN="$TOOLS_CACHE/go/k8s-$KUBERNETES_VERSION"
FAKE_GCS_BIN="$TOOLS_CACHE/go/fake-gcs-server-$FAKE_GCS_SERVER_VERSION-testenv"
TESTENV_VENV="$TOOLS_CACHE/venv-testenv-moto-$MOTO_VERSION"

# Per-clone state: data, logs, pid files, certificates and generated credentials (git-ignored).
STATE="${TESTENV_STATE:-$TESTENV_ROOT/.testenv}"

# Ports: all on 127.0.0.1, all in 26000-26999. Change them here only. The range is below Linux's
# ephemeral ports (32768-60999), so no outgoing connection (there are hundreds, kube-apiserver to
# etcd alone) can hold one of them when a service starts.
# TESTENV_PORT_OFFSET (default 0) moves every one of them, for a second environment on the same
# machine: e.g. TESTENV_PORT_OFFSET=1000 TESTENV_STATE=/tmp/other scripts/testenv up (27xxx).
_o=$((${TESTENV_PORT_OFFSET:-0}))
PORT_ETCD=$((26379 + _o))           # etcd client (plain HTTP, loopback only)
PORT_ETCD_PEER=$((26380 + _o))      # etcd peer (single member)
PORT_KUBE_APISERVER=$((26443 + _o)) # kube-apiserver (HTTPS; client certificates, ServiceAccount tokens)
PORT_REGISTRY=$((26500 + _o))       # OCI registry, no auth
PORT_AUTH_REGISTRY=$((26501 + _o))  # OCI registry, htpasswd (basic) auth
PORT_MOTO=$((26555 + _o))           # moto server: S3, ECR and every other AWS API
PORT_FAKE_GCS=$((26480 + _o))       # fake-gcs-server (GCS JSON API, also at /, and XML API)
PORT_AZURITE_BLOB=$((26100 + _o))   # Azurite blob service
if ((PORT_MOTO > 32767 || PORT_AZURITE_BLOB < 1024)); then
  echo "testenv: TESTENV_PORT_OFFSET=${TESTENV_PORT_OFFSET:-} puts ports outside 1024-32767" >&2
  exit 2
fi
unset _o
PODMAN_SOCKET="$STATE/run/podman.sock" # Docker Engine API (podman system service)

# Azurite's well-known development account (public, documented by Microsoft).
AZURITE_ACCOUNT=devstoreaccount1
AZURITE_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

# Debian packages the environment needs (install-system-deps installs the missing ones).
# netavark/aardvark-dns/iptables: podman's network backend, needed to run containers at all.
TESTENV_DEBIAN_PACKAGES=(
  podman runc conmon catatonit netavark aardvark-dns iptables
  docker-registry apache2-utils openssl curl ca-certificates python3 python3-venv
  chromium # the dashboard's browser tests drive it headless (puppeteer-core; no browser download)
)

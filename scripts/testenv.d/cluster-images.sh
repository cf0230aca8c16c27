# shellcheck shell=bash
# The images the cluster profile builds with podman and pushes to the default profile's open
# registry: pause, the kaniko executor, crane (the build pods' push step), agent-node and demo-base. Sourced by
# scripts/testenv.d/cluster.sh, which defines CSTATE and the image references.

# --- images ------------------------------------------------------------------------------------------

c_podman() {
  CONTAINERS_CONF="$STATE/config/containers.conf" CONTAINERS_STORAGE_CONF="$STATE/config/storage.conf" \
    CONTAINERS_REGISTRIES_CONF="$STATE/config/registries.conf" podman "$@"
}

c_in_registry() { # image reference 127.0.0.1:PORT/repo:tag
  local ref=$1 host repo tag
  host="${ref%%/*}" repo="${ref#*/}"
  tag="${repo##*:}" repo="${repo%:*}"
  [[ "$(http_code -I -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$host/v2/$repo/manifests/$tag")" == 200 ]]
}

# Builds a FROM-scratch image from a context dir and pushes it; skipped when the stamp matches and
# the registry still has it.
c_image() { # reference context-dir stamp-content
  local ref=$1 ctx=$2 want=$3 stamp
  stamp="$CSTATE/run/image-$(echo "$ref" | tr '/:' '__').stamp"
  if [[ "$(cat "$stamp" 2>/dev/null)" == "$want" ]] && c_in_registry "$ref"; then
    return 0
  fi
  csay "building and pushing $ref"
  c_podman build --quiet -t "$ref" "$ctx" >>"$CSTATE/logs/images.log" 2>&1 ||
    cdie "building $ref failed; log: $CSTATE/logs/images.log"
  c_podman push --quiet --tls-verify=false "$ref" >>"$CSTATE/logs/images.log" 2>&1 ||
    cdie "pushing $ref failed; log: $CSTATE/logs/images.log"
  echo "$want" >"$stamp"
}

# Builds a static Go program from a module in images/ (its go.mod/go.sum pin it; sources from the
# Go module proxy) into the shared tool cache, unless the stamp says it is there already. The
# cache is shared by every clone: one build at a time (fd 7, released after it).
c_go_tool() { # module-dir bin-dir binary-name package ldflags what log-name
  local mod=$1 bin=$2 name=$3 pkg=$4 ldflags=$5 what=$6 log="$CSTATE/logs/$7.log" want
  want="$(cat "$mod/go.mod" "$mod/go.sum" | sha256sum | cut -c1-16) $(go env GOVERSION)"
  mkdir -p "$bin"
  exec 7>"$bin/.lock"
  flock 7
  if [[ ! -x "$bin/$name" || "$(cat "$bin/.stamp" 2>/dev/null)" != "$want" ]]; then
    csay "building $what from the Go module proxy (log: $log)"
    (cd "$mod" && GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" go build -trimpath \
      -ldflags "$ldflags" -o "$bin/$name.tmp" "$pkg") >"$log" 2>&1 || cdie "building $what failed; log: $log"
    mv -f "$bin/$name.tmp" "$bin/$name"
    echo "$want" >"$bin/.stamp"
  fi
  exec 7>&-
}

c_images() {
  local root="$TESTENV_ROOT" ctx want
  # pause: a static Go binary (images/pause), no module dependencies.
  ctx="$CSTATE/data/image-pause"
  mkdir -p "$ctx"
  want="$(cat "$root/images/pause/"{main.go,go.mod,Dockerfile} | sha256sum | cut -c1-16) $(go env GOVERSION)"
  if [[ "$(cat "$ctx/.stamp" 2>/dev/null)" != "$want" ]]; then
    (cd "$root/images/pause" && GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false \
      go build -trimpath -ldflags '-s -w' -o "$ctx/pause" .) || cdie "building images/pause failed"
    cp "$root/images/pause/Dockerfile" "$ctx/Dockerfile"
    echo "$want" >"$ctx/.stamp"
  fi
  c_image "$C_PAUSE_IMAGE" "$ctx" "$want"

  # kaniko: the executor from the Go module proxy, laid out like the upstream image.
  local kmod="$root/images/kaniko" kin
  kin="$(awk '$1 == "require" && $2 == "github.com/GoogleContainerTools/kaniko" { print $3 }' "$kmod/go.mod")"
  [[ "$kin" == "$KANIKO_VERSION" ]] ||
    cdie "images/kaniko/go.mod requires kaniko $kin, versions.env says KANIKO_VERSION=$KANIKO_VERSION"
  c_go_tool "$kmod" "$KANIKO_BIN" executor github.com/GoogleContainerTools/kaniko/cmd/executor \
    "-s -w -X github.com/GoogleContainerTools/kaniko/pkg/version.version=$KANIKO_VERSION" \
    "the kaniko executor $KANIKO_VERSION (several minutes)" kaniko-build
  ctx="$CSTATE/data/image-kaniko"
  rm -rf "$ctx"
  mkdir -p "$ctx/ssl/certs" "$ctx/docker"
  cp "$KANIKO_BIN/executor" "$ctx/executor"
  cp /etc/ssl/certs/ca-certificates.crt "$ctx/ssl/certs/ca-certificates.crt"
  echo '{}' >"$ctx/docker/config.json"
  printf 'hosts: files dns\n' >"$ctx/nsswitch.conf"
  cp "$root/images/kaniko/Dockerfile" "$ctx/Dockerfile"
  want="$(cat "$ctx/executor" "$ctx/Dockerfile" | sha256sum | cut -c1-16)"
  c_image "$C_KANIKO_IMAGE" "$ctx" "$want"

  # crane: the push step of build pods (images/crane), from the Go module proxy like kaniko.
  local cmod="$root/images/crane"
  c_go_tool "$cmod" "$CRANE_BIN" crane github.com/google/go-containerregistry/cmd/crane "-s -w" \
    "crane $C_CRANE_VERSION" crane-build
  ctx="$CSTATE/data/image-crane"
  rm -rf "$ctx"
  mkdir -p "$ctx/ssl/certs"
  cp "$CRANE_BIN/crane" "$ctx/crane"
  cp /etc/ssl/certs/ca-certificates.crt "$ctx/ssl/certs/ca-certificates.crt"
  cp "$cmod/Dockerfile" "$ctx/Dockerfile"
  want="$(cat "$ctx/crane" "$ctx/Dockerfile" | sha256sum | cut -c1-16)"
  c_image "$C_CRANE_IMAGE" "$ctx" "$want"

  # agent-node: this machine's node binary and its libraries (images/agent-node).
  local node lib
  node="$(readlink -f "$(command -v node)")"
  ctx="$CSTATE/data/image-agent-node"
  rm -rf "$ctx"
  mkdir -p "$ctx/rootfs/usr/bin" "$ctx/rootfs/tmp"
  cp "$node" "$ctx/rootfs/usr/bin/node"
  for lib in $(ldd "$node" | awk '$3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
    mkdir -p "$ctx/rootfs$(dirname "$lib")"
    cp -L "$lib" "$ctx/rootfs$lib"
  done
  cp "$root/images/agent-node/Dockerfile" "$ctx/Dockerfile"
  want="$(cat "$ctx/Dockerfile" | sha256sum | cut -c1-16) $(sha256sum "$node" | cut -c1-16)"
  c_image "$C_NODE_IMAGE" "$ctx" "$want"

  # demo-base: Debian's static busybox with its applet links (sh, cat, echo, ...), FROM scratch.
  local busybox=/bin/busybox applet
  ctx="$CSTATE/data/image-demo-base"
  rm -rf "$ctx"
  mkdir -p "$ctx/rootfs/bin" "$ctx/rootfs/tmp" "$ctx/rootfs/etc"
  cp "$busybox" "$ctx/rootfs/bin/busybox"
  for applet in $("$busybox" --list); do
    [[ "$applet" == busybox ]] || ln -s busybox "$ctx/rootfs/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$ctx/rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$ctx/rootfs/etc/group"
  cp "$root/images/demo-base/Dockerfile" "$ctx/Dockerfile"
  want="$(cat "$ctx/Dockerfile" | sha256sum | cut -c1-16) $(sha256sum "$busybox" | cut -c1-16)"
  c_image "$C_DEMO_BASE_IMAGE" "$ctx" "$want"
}

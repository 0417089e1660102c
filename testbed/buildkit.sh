#!/usr/bin/env bash
# Real BuildKit test bed: two engines side by side, sharing one plain-HTTP docker-registry (CNCF
# distribution 2.8) on a free 127.0.0.1 port, both on bookworm's runc:
#   v0.13: dockerd 26.1 (BuildKit v0.13) + buildx 0.13 + containerd 1.7 from Debian trixie, unpacked under
#          build/testbed/prefix (private apt state, the system's sources untouched); env: build/testbed/env
#   v0.25: dockerd 28.5.2 (BuildKit v0.25.2) + docker-cli 28.5.2 + buildx 0.29.1 + containerd 2.1.9 (+ crane
#          0.20.7) from the pinned sid/forky .debs in ../shared/testbed-debs (SHA256SUMS checked; the same
#          versions are downloaded from forky/sid when that folder is missing), unpacked under
#          build/testbed/prefix-v025 with its own run dir, data root, sockets and DOCKER_CONFIG;
#          env: build/testbed/env-v025
#
#   bash testbed/buildkit.sh up        start both engines (idempotent), write the env files, base images
#   bash testbed/buildkit.sh down      stop everything `up` started (pid files), unmount leftovers
#   bash testbed/buildkit.sh status    print what runs
#   TESTBED_ENGINES="v0.25" bash testbed/buildkit.sh up   only the listed engines (default "v0.13 v0.25")
#   bash testbed/buildkit.sh up-v08    start bookworm's dockerd 20.10 (BuildKit v0.8) beside it, write env-v08
#   bash testbed/buildkit.sh down-v08  stop it (also done by `down`)
#
# Everything (downloads, apt lists, daemon state) lives in build/testbed (git-ignored); downloads are kept
# between runs, so a warm `up` only starts processes. Works without stdin (CI=true).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TB="${TESTBED_DIR:-$ROOT/build/testbed}"
PREFIX="$TB/prefix"          # trixie docker.io, docker-buildx, containerd (+ oras)
PREFIX08="$TB/prefix-v08"    # bookworm docker.io 20.10 (dockerd + client)
DEBS="$TB/debs"
APTDIR="$TB/apt"
RUN="$TB/run"
RUN08="$TB/run-v08"
DOCKER_CONFIG_DIR="$TB/docker-config"
ENVFILE="$TB/env"
ENVFILE08="$TB/env-v08"
# the v0.25 engine (dockerd 28.5.2)
PREFIX25="$TB/prefix-v025"
RUN25="$TB/run-v025"
DOCKER_CONFIG25="$TB/docker-config-v025"
ENVFILE25="$TB/env-v025"
APTDIR25="$TB/apt-v025"
DEBS25="$TB/debs/v025"
PINNED_DEBS="${TESTBED_PINNED_DEBS:-$ROOT/../shared/testbed-debs}"
# the exact versions of the pinned .debs (../shared/testbed-debs/README.md)
PKGS_V025=(docker.io=28.5.2+dfsg4-5 docker-cli=28.5.2+dfsg4-5 docker-buildx=0.29.1+ds1-4
  containerd=2.1.9+ds1-5 crane=0.20.7+ds1-5)
ENGINES="${TESTBED_ENGINES:-v0.13 v0.25}"

log() { echo "buildkit.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------- packages
private_apt() {
  apt-get -q -o Dir::Etc::SourceList="$APTDIR/sources.list" -o Dir::Etc::SourceParts=/dev/null \
    -o Dir::State::Lists="$APTDIR/lists" -o Dir::Cache="$APTDIR/cache" \
    -o Dir::State::Status=/var/lib/dpkg/status -o APT::Get::List-Cleanup=0 -o APT::Sandbox::User=root "$@"
}

system_apt_install() {  # install system packages (bookworm) only when a command is missing
  local missing=() pair cmd pkg
  for pair in "$@"; do
    cmd="${pair%%:*}"
    pkg="${pair##*:}"
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # wait (up to 10 minutes) for another apt holding the dpkg/lists locks instead of failing at once
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# The .debs we unpack: name/suite -> file in $DEBS. Downloaded once, then reused.
PKGS_TRIXIE=(docker.io docker-buildx containerd oras)
# the machine's docker client (28) is used when present; otherwise trixie's docker-cli is unpacked too
command -v docker >/dev/null 2>&1 || PKGS_TRIXIE+=(docker-cli)
PKGS_BOOKWORM=(busybox-static)
PKGS_V08=(docker.io)

fetch_debs() {
  mkdir -p "$DEBS" "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial"
  local want=() p
  for p in "${PKGS_TRIXIE[@]}"; do ls "$DEBS"/trixie/"${p}"_*.deb >/dev/null 2>&1 || want+=("$p/trixie"); done
  for p in "${PKGS_BOOKWORM[@]}" "${PKGS_V08[@]}"; do
    ls "$DEBS"/bookworm/"${p}"_*.deb >/dev/null 2>&1 || want+=("$p/bookworm")
  done
  [ ${#want[@]} -eq 0 ] && return 0
  cat >"$APTDIR/sources.list" <<EOF
deb http://deb.debian.org/debian trixie main
deb http://deb.debian.org/debian bookworm main
EOF
  log "private apt update (trixie + bookworm lists under $APTDIR)"
  private_apt update -qq >/dev/null
  local spec name suite
  for spec in "${want[@]}"; do
    name="${spec%/*}"
    suite="${spec#*/}"
    mkdir -p "$DEBS/$suite"
    log "apt-get download $spec"
    (cd "$DEBS/$suite" && private_apt download -qq "$spec" >/dev/null) ||
      { [ "$name" = oras ] && log "oras not available, skipping" && continue; die "download $spec failed"; }
  done
}

unpack_prefix() {
  if [ -x "$PREFIX/usr/sbin/dockerd" ] && [ -x "$PREFIX/usr/bin/containerd" ] && [ -f "$PREFIX/.unpacked" ]; then
    return 0
  fi
  rm -rf "$PREFIX"
  mkdir -p "$PREFIX"
  local p deb
  for p in "${PKGS_TRIXIE[@]}"; do
    for deb in "$DEBS"/trixie/"${p}"_*.deb; do
      [ -f "$deb" ] && dpkg-deb -x "$deb" "$PREFIX"
    done
  done
  touch "$PREFIX/.unpacked"
}

unpack_prefix08() {
  [ -f "$PREFIX08/.unpacked" ] && return 0
  rm -rf "$PREFIX08"
  mkdir -p "$PREFIX08"
  dpkg-deb -x "$(ls "$DEBS"/bookworm/docker.io_*.deb | head -1)" "$PREFIX08"
  touch "$PREFIX08/.unpacked"
}

setup_cli_plugin() {
  mkdir -p "$DOCKER_CONFIG_DIR/cli-plugins"
  local plugin
  plugin="$PREFIX/usr/libexec/docker/cli-plugins/docker-buildx"
  [ -x "$plugin" ] || die "docker-buildx not found in $PREFIX"
  install -m 0755 "$plugin" "$DOCKER_CONFIG_DIR/cli-plugins/docker-buildx"
  [ -f "$DOCKER_CONFIG_DIR/config.json" ] || echo '{}' >"$DOCKER_CONFIG_DIR/config.json"
}

docker_client() {  # the client to use: the machine's docker (28) if present, else trixie's
  if command -v docker >/dev/null 2>&1 && [ "$(command -v docker)" != "$PREFIX/usr/bin/docker" ]; then
    command -v docker
  elif [ -x "$PREFIX/usr/bin/docker" ]; then
    echo "$PREFIX/usr/bin/docker"
  else
    die "no docker client (install docker-cli or keep /usr/local/bin/docker)"
  fi
}

# ---------------------------------------------------------------------------------------------- v0.25 packages
DEBS25_DIR=""
fetch_debs_v025() {  # the pinned .debs, checked against SHA256SUMS; else the same versions from forky/sid
  if [ -f "$PINNED_DEBS/SHA256SUMS" ]; then
    (cd "$PINNED_DEBS" && sha256sum --quiet -c SHA256SUMS) || die "$PINNED_DEBS: SHA256SUMS mismatch"
    DEBS25_DIR="$PINNED_DEBS"
    return 0
  fi
  DEBS25_DIR="$DEBS25"
  mkdir -p "$DEBS25" "$APTDIR25/lists/partial" "$APTDIR25/cache/archives/partial"
  local want=() spec
  for spec in "${PKGS_V025[@]}"; do
    ls "$DEBS25/${spec%%=*}_${spec#*=}_"*.deb >/dev/null 2>&1 || want+=("$spec")
  done
  [ ${#want[@]} -eq 0 ] && return 0
  log "$PINNED_DEBS missing: downloading ${want[*]} from forky/sid (private apt state $APTDIR25)"
  cat >"$APTDIR25/sources.list" <<EOF
deb http://deb.debian.org/debian forky main
deb http://deb.debian.org/debian sid main
EOF
  local save_aptdir="$APTDIR"
  APTDIR="$APTDIR25"
  private_apt update -qq >/dev/null
  for spec in "${want[@]}"; do
    (cd "$DEBS25" && private_apt download -qq "$spec" >/dev/null) ||
      die "download $spec failed (sid moved on? see ../shared/testbed-debs/README.md)"
  done
  APTDIR="$save_aptdir"
}

unpack_prefix_v025() {
  if [ -f "$PREFIX25/.unpacked" ] && [ -x "$PREFIX25/usr/sbin/dockerd" ] && [ -x "$PREFIX25/usr/bin/crane" ]; then
    return 0
  fi
  rm -rf "$PREFIX25"
  mkdir -p "$PREFIX25"
  local spec deb
  for spec in "${PKGS_V025[@]}"; do
    # dpkg-deb names files NAME_VERSION_ARCH.deb with the epoch's ':' as %3a; these versions have none
    deb="$(ls "$DEBS25_DIR/${spec%%=*}_${spec#*=}_"*.deb 2>/dev/null | head -1)"
    [ -n "$deb" ] || die "no .deb for $spec in $DEBS25_DIR"
    dpkg-deb -x "$deb" "$PREFIX25"
  done
  touch "$PREFIX25/.unpacked"
}

setup_cli_plugin_v025() {  # buildx 0.29.1 as the plugin of docker-cli 28.5.2, in the engine's own DOCKER_CONFIG
  mkdir -p "$DOCKER_CONFIG25/cli-plugins"
  install -m 0755 "$PREFIX25/usr/libexec/docker/cli-plugins/docker-buildx" "$DOCKER_CONFIG25/cli-plugins/docker-buildx"
  [ -f "$DOCKER_CONFIG25/config.json" ] || echo '{}' >"$DOCKER_CONFIG25/config.json"
}

# ---------------------------------------------------------------------------------------------- processes
alive() {  # alive PIDFILE: the pid runs and is still the program the file is named after (not a reused pid)
  local pid name
  [ -f "$1" ] || return 1
  pid="$(cat "$1")"
  name="$(basename "$1" .pid)"
  kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -- "$name" >/dev/null
}

start_bg() {  # start_bg PIDFILE LOGFILE CMD...
  local pidfile="$1" logfile="$2"
  shift 2
  setsid "$@" </dev/null >>"$logfile" 2>&1 &
  echo $! >"$pidfile"
}

stop_pid() {  # stop_pid PIDFILE NAME
  local pidfile="$1" name="$2" pid i
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  if alive "$pidfile"; then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name did not stop, SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
    fi
  fi
  rm -f "$pidfile"
}

free_port() {
  python3 - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

wait_for() {  # wait_for SECONDS DESC CMD...
  local secs="$1" desc="$2" i
  shift 2
  for i in $(seq 1 $((secs * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  return 1
}

shim_pids() {  # containerd shims whose -address points into DIR (they are reparented away from containerd)
  local dir="$1" p
  for p in /proc/[0-9]*; do
    if tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -- "containerd-shim.*-address $dir/" >/dev/null; then
      basename "$p"
    fi
  done
}

unmount_under() {  # unmount every mount point below DIR, deepest first
  local dir="$1" m
  { awk '{print $2}' /proc/self/mounts | grep -F "$dir/" || true; } | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
}

# ---------------------------------------------------------------------------------------------- registry
start_registry() {
  mkdir -p "$RUN/registry-data"
  if alive "$RUN/registry.pid" && [ -f "$RUN/registry.port" ]; then
    return 0
  fi
  local port
  port="$(free_port)"
  cat >"$RUN/registry.yml" <<EOF
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $RUN/registry-data}
  delete: {enabled: true}
http:
  addr: 127.0.0.1:$port
EOF
  echo "$port" >"$RUN/registry.port"
  log "starting docker-registry on 127.0.0.1:$port"
  start_bg "$RUN/registry.pid" "$RUN/registry.log" docker-registry serve "$RUN/registry.yml"
  wait_for 20 registry python3 -c "import urllib.request;urllib.request.urlopen('http://127.0.0.1:$port/v2/')" ||
    { tail -20 "$RUN/registry.log" >&2; die "registry did not come up"; }
}

# ---------------------------------------------------------------------------------------------- dockerd
engine_dirs() {  # engine_dirs ENGINE: sets prefix, run, config, envfile of that engine
  if [ "$1" = v0.25 ]; then
    prefix="$PREFIX25" run="$RUN25" config="$DOCKER_CONFIG25" envfile="$ENVFILE25"
  else
    prefix="$PREFIX" run="$RUN" config="$DOCKER_CONFIG_DIR" envfile="$ENVFILE"
  fi
}

engine_client() {  # engine_client ENGINE: the docker CLI used with that engine
  if [ "$1" = v0.25 ]; then echo "$PREFIX25/usr/bin/docker"; else docker_client; fi
}

containerd_config_v025() {  # containerd_config_v025 RUN: containerd 2's config for the v0.25 engine
  # containerd 2 loads CRI and NRI by default; NRI's socket (/var/run/nri/nri.sock) and /opt/containerd
  # are machine-wide, so the beds of several worktrees would share them: they are turned off.
  local run="$1"
  cat >"$run/containerd.toml" <<EOF
version = 3
root = "$run/containerd-root"
state = "$run/containerd-state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime", "io.containerd.cri.v1.images",
  "io.containerd.nri.v1.nri", "io.containerd.internal.v1.opt"]
[grpc]
  address = "$run/containerd.sock"
[ttrpc]
  address = "$run/containerd.sock.ttrpc"
EOF
}

start_docker() {  # start_docker PORT ENGINE: containerd + dockerd of one engine (v0.13 or v0.25)
  local port="$1" engine="${2:-v0.13}" prefix run config envfile extra_json="" ctd_args=()
  engine_dirs "$engine"
  mkdir -p "$run/containerd-root" "$run/containerd-state" "$run/docker-data" "$run/docker-exec"
  if [ "$engine" = v0.25 ]; then
    containerd_config_v025 "$run"
    ctd_args=(--config "$run/containerd.toml")
    extra_json='"ip6tables": false, '  # dockerd 28 sets up ip6tables otherwise (not on these machines)
  fi
  if ! alive "$run/containerd.pid"; then
    rm -f "$run/containerd.sock"
    log "starting containerd $("$prefix/usr/bin/containerd" --version | awk '{print $3}') ($engine)"
    start_bg "$run/containerd.pid" "$run/containerd.log" env PATH="$prefix/usr/bin:$prefix/usr/sbin:$PATH" \
      "$prefix/usr/bin/containerd" "${ctd_args[@]}" \
      --address "$run/containerd.sock" --root "$run/containerd-root" --state "$run/containerd-state"
    wait_for 30 containerd test -S "$run/containerd.sock" ||
      { tail -20 "$run/containerd.log" >&2; die "containerd ($engine) did not come up"; }
  fi
  cat >"$run/daemon.json.new" <<EOF
{
  "features": {"containerd-snapshotter": true},
  "iptables": false, ${extra_json}"ip-forward": false, "ip-masq": false, "bridge": "none",
  "data-root": "$run/docker-data", "exec-root": "$run/docker-exec",
  "pidfile": "$run/dockerd-own.pidfile", "hosts": ["unix://$run/docker.sock"],
  "insecure-registries": ["127.0.0.1:$port", "localhost:$port"]
}
EOF
  # TESTBED_DAEMON_EXTRA_JSON='{"builder": {"gc": {...}}}': its top-level keys are merged into daemon.json
  # (tests of daemon settings such as BuildKit's GC policy). A running dockerd whose daemon.json differs
  # from the one wanted now is restarted; without the variable nothing changes from before.
  if [ -n "${TESTBED_DAEMON_EXTRA_JSON:-}" ]; then
    python3 -c '
import json, os, sys
path = sys.argv[1]
base = json.load(open(path))
extra = json.loads(os.environ["TESTBED_DAEMON_EXTRA_JSON"])
if not isinstance(extra, dict):
    raise SystemExit("not a JSON object")
base.update(extra)
with open(path, "w") as f:
    json.dump(base, f, indent=2)
' "$run/daemon.json.new" || die "TESTBED_DAEMON_EXTRA_JSON must be a JSON object"
  fi
  if alive "$run/dockerd.pid" && [ -f "$run/dockerd.port" ] && [ "$(cat "$run/dockerd.port")" = "$port" ] &&
    cmp -s "$run/daemon.json.new" "$run/daemon.json"; then
    rm -f "$run/daemon.json.new"
    return 0
  fi
  stop_pid "$run/dockerd.pid" "dockerd ($engine)"
  mv "$run/daemon.json.new" "$run/daemon.json"
  rm -f "$run/docker.sock"
  log "starting dockerd $("$prefix/usr/sbin/dockerd" --version | awk '{print $3}' | tr -d ,) ($engine)"
  # dockerd and containerd find runc / containerd-shim-runc-v2 on PATH: this engine's prefix first
  start_bg "$run/dockerd.pid" "$run/dockerd.log" env PATH="$prefix/usr/bin:$prefix/usr/sbin:$PATH" \
    "$prefix/usr/sbin/dockerd" --config-file "$run/daemon.json" --containerd "$run/containerd.sock"
  echo "$port" >"$run/dockerd.port"
  wait_for 60 dockerd env DOCKER_HOST="unix://$run/docker.sock" "$(engine_client "$engine")" info ||
    { tail -30 "$run/dockerd.log" >&2; die "dockerd ($engine) did not come up"; }
}

write_env() {  # write_env PORT ENGINE: the env file of one engine (v0.13: $ENVFILE, v0.25: $ENVFILE25)
  local port="$1" engine="${2:-v0.13}" prefix run config envfile docker buildkit dver bxver extra=""
  engine_dirs "$engine"
  [ "$engine" = v0.25 ] && extra="export TESTBED_CRANE=\"$PREFIX25/usr/bin/crane\""
  docker="$(engine_client "$engine")"
  dver="$(DOCKER_HOST="unix://$run/docker.sock" "$docker" version --format '{{.Server.Version}}')"
  buildkit="$(DOCKER_HOST="unix://$run/docker.sock" DOCKER_CONFIG="$config" "$docker" buildx inspect default 2>/dev/null |
    awk '/BuildKit version:/{print $3; exit}')"
  bxver="$(DOCKER_CONFIG="$config" "$docker" buildx version | awk '{print $2}')"
  local bkderived="$buildkit"
  case "$buildkit:$dver" in
    v0.0.0*:26.1.*) bkderived="v0.13" ;;
    v0.0.0*:28.5.2*) bkderived="v0.25.2" ;;
  esac
  cat >"$envfile.tmp" <<EOF
# written by testbed/buildkit.sh up; source it
export TESTBED_DIR="$TB"
export TESTBED_ENGINE="$engine"
export DOCKER_HOST="unix://$run/docker.sock"
export DOCKER_CONFIG="$config"
export PATH="$prefix/usr/bin:$prefix/usr/sbin:\$PATH"
export TESTBED_DOCKER="$docker"
export TESTBED_REGISTRY="127.0.0.1:$port"
# dockerd's embedded BuildKit; Debian's build leaves its version string unset (v0.0.0+unknown), so
# BUILDKIT_VERSION is derived from the engine line (moby 26.1 vendors the BuildKit v0.13 line; the
# source package of docker.io 28.5.2+dfsg4-5 vendors BuildKit v0.25.2)
export BUILDKIT_VERSION_REPORTED="$buildkit"
export BUILDKIT_VERSION="$bkderived"
export DOCKER_VERSION="$dver"
export BUILDX_VERSION="$bxver"
export TESTBED_BASE_IMAGE="127.0.0.1:$port/base/busybox:1"
export TESTBED_BASE_IMAGE2="127.0.0.1:$port/base/busybox:2"
$extra
EOF
  mv "$envfile.tmp" "$envfile"
}

# ---------------------------------------------------------------------------------------------- base images
busybox_rootfs() {  # busybox_rootfs DIR: a minimal root with static busybox and applet links
  local dir="$1" deb a
  rm -rf "$dir"
  mkdir -p "$dir/bin" "$dir/tmp" "$dir/etc"
  deb="$(ls "$DEBS"/bookworm/busybox-static_*.deb | head -1)"
  local x
  x="$(mktemp -d)"
  dpkg-deb -x "$deb" "$x"
  install -m 0755 "$x/bin/busybox" "$dir/bin/busybox"
  rm -rf "$x"
  for a in sh echo cat ls mkdir cp mv rm touch chmod sed grep wc sort head tail env true false test sleep \
    find tar gzip date printf id whoami stat md5sum sha256sum seq tr xargs dirname basename ln; do
    ln -sf busybox "$dir/bin/$a"
  done
  echo "root:x:0:0:root:/root:/bin/sh" >"$dir/etc/passwd"
  echo "root:x:0:" >"$dir/etc/group"
  chmod 1777 "$dir/tmp"
  # deterministic mtimes so re-imports give the same layer content
  find "$dir" -exec touch -h -d '2024-01-01T00:00:00Z' {} +
}

image_in_registry() {  # image_in_registry REPO TAG
  python3 -c "
import urllib.request,sys
r=urllib.request.Request('http://$TESTBED_REGISTRY/v2/$1/manifests/$2',method='HEAD',
 headers={'Accept':'application/vnd.docker.distribution.manifest.v2+json,application/vnd.oci.image.manifest.v1+json'})
urllib.request.urlopen(r)"
}

make_base_images() {  # make_base_images ENVFILE: base/busybox:1 (imported rootfs), :2 (= :1 + a layer), pushed
  # shellcheck disable=SC1090
  source "$1"
  local docker="$TESTBED_DOCKER" dir="$TB/busybox-root" ctx="$TB/busybox2-ctx"
  if image_in_registry base/busybox 1 2>/dev/null && image_in_registry base/busybox 2 2>/dev/null; then
    return 0
  fi
  busybox_rootfs "$dir"
  log "importing $TESTBED_BASE_IMAGE (static busybox from Debian's busybox-static)"
  (cd "$dir" && tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='2024-01-01 00:00:00Z' -c .) |
    "$docker" import -c 'CMD ["/bin/sh"]' - "$TESTBED_BASE_IMAGE" >/dev/null
  "$docker" push -q "$TESTBED_BASE_IMAGE" >/dev/null
  rm -rf "$ctx"
  mkdir -p "$ctx"
  echo "busybox base image variant 2" >"$ctx/base-variant"
  printf 'ARG BASE\nFROM ${BASE}\nCOPY base-variant /etc/base-variant\n' >"$ctx/Dockerfile"
  log "building $TESTBED_BASE_IMAGE2 (= :1 plus /etc/base-variant)"
  "$docker" buildx build -q --network=host --provenance=false --build-arg BASE="$TESTBED_BASE_IMAGE" \
    -t "$TESTBED_BASE_IMAGE2" --push "$ctx" >/dev/null
}

# ---------------------------------------------------------------------------------------------- v0.8
up_v08() {
  # bookworm's docker.io 20.10 (BuildKit v0.8): its own containerd (trixie's binary, separate socket/root),
  # vfs storage, no bridge. Its own 20.10 client does `DOCKER_BUILDKIT=1 docker build`.
  [ -f "$ENVFILE" ] || die "run 'up' first"
  # shellcheck disable=SC1090
  source "$ENVFILE"
  unpack_prefix08
  mkdir -p "$RUN08/containerd-root" "$RUN08/containerd-state" "$RUN08/docker-data" "$RUN08/docker-exec" \
    "$TB/docker-config-v08"
  [ -f "$TB/docker-config-v08/config.json" ] || echo '{}' >"$TB/docker-config-v08/config.json"
  if ! alive "$RUN08/containerd.pid"; then
    rm -f "$RUN08/containerd.sock"
    start_bg "$RUN08/containerd.pid" "$RUN08/containerd.log" "$PREFIX/usr/bin/containerd" \
      --address "$RUN08/containerd.sock" --root "$RUN08/containerd-root" --state "$RUN08/containerd-state"
    wait_for 30 containerd test -S "$RUN08/containerd.sock" || { tail -20 "$RUN08/containerd.log" >&2; die containerd-v08; }
  fi
  if ! alive "$RUN08/dockerd.pid"; then
    rm -f "$RUN08/docker.sock"
    log "starting dockerd $("$PREFIX08/usr/sbin/dockerd" --version | awk '{print $3}' | tr -d ,) (v0.8)"
    start_bg "$RUN08/dockerd.pid" "$RUN08/dockerd.log" env PATH="$PREFIX/usr/bin:$PATH" \
      "$PREFIX08/usr/sbin/dockerd" --storage-driver=vfs --bridge=none --iptables=false --ip-forward=false \
      --ip-masq=false --data-root "$RUN08/docker-data" --exec-root "$RUN08/docker-exec" \
      --pidfile "$RUN08/dockerd-own.pidfile" -H "unix://$RUN08/docker.sock" --containerd "$RUN08/containerd.sock" \
      --insecure-registry "$TESTBED_REGISTRY"
    wait_for 60 dockerd-v08 env DOCKER_HOST="unix://$RUN08/docker.sock" "$PREFIX08/usr/bin/docker" info ||
      { tail -30 "$RUN08/dockerd.log" >&2; die "dockerd 20.10 did not come up"; }
  fi
  local dver
  dver="$(DOCKER_HOST="unix://$RUN08/docker.sock" "$PREFIX08/usr/bin/docker" version --format '{{.Server.Version}}')"
  cat >"$ENVFILE08" <<EOF
# written by testbed/buildkit.sh up-v08; source it after env
export DOCKER08_HOST="unix://$RUN08/docker.sock"
export DOCKER08="$PREFIX08/usr/bin/docker"
export DOCKER08_CONFIG="$TB/docker-config-v08"
export DOCKER08_VERSION="$dver"
EOF
  log "v0.8 engine up (dockerd $dver); env: $ENVFILE08"
}

down_v08() {
  stop_pid "$RUN08/dockerd.pid" "dockerd 20.10"
  local p
  for p in $(shim_pids "$RUN08"); do kill -KILL "$p" 2>/dev/null || true; done
  stop_pid "$RUN08/containerd.pid" "containerd (v0.8)"
  unmount_under "$RUN08"
  rm -f "$ENVFILE08"
}

# ---------------------------------------------------------------------------------------------- main
want_engine() { case " $ENGINES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

up() {
  [ "$(id -u)" = 0 ] || die "must run as root (dockerd, containerd)"
  mkdir -p "$TB" "$RUN" "$RUN25"
  system_apt_install runc:runc docker-registry:docker-registry setfattr:attr
  fetch_debs  # trixie's engine, busybox-static (base images) and bookworm's 20.10 (up-v08)
  start_registry
  local port envf
  port="$(cat "$RUN/registry.port")"
  if want_engine v0.13; then
    unpack_prefix
    setup_cli_plugin
    start_docker "$port" v0.13
    write_env "$port" v0.13
  fi
  if want_engine v0.25; then
    fetch_debs_v025
    unpack_prefix_v025
    setup_cli_plugin_v025
    start_docker "$port" v0.25
    write_env "$port" v0.25
  fi
  # base images: pushed once into the shared registry, by the first engine that is up
  for envf in "$ENVFILE" "$ENVFILE25"; do
    if [ -f "$envf" ]; then
      make_base_images "$envf"
      break
    fi
  done
  for envf in "$ENVFILE" "$ENVFILE25"; do
    [ -f "$envf" ] || continue
    (
      # shellcheck disable=SC1090
      source "$envf"
      log "up $TESTBED_ENGINE: dockerd $DOCKER_VERSION, BuildKit $BUILDKIT_VERSION, buildx $BUILDX_VERSION, registry $TESTBED_REGISTRY"
      log "env: source $envf"
    )
  done
}

down_engine() {  # down_engine RUN NAME ENVFILE
  local run="$1" name="$2" envfile="$3" p
  stop_pid "$run/dockerd.pid" "dockerd ($name)"
  for p in $(shim_pids "$run"); do kill -KILL "$p" 2>/dev/null || true; done
  stop_pid "$run/containerd.pid" "containerd ($name)"
  unmount_under "$run"
  rm -f "$envfile" "$run/dockerd.port"
}

down() {
  down_v08
  down_engine "$RUN25" v0.25 "$ENVFILE25"
  down_engine "$RUN" v0.13 "$ENVFILE"
  stop_pid "$RUN/registry.pid" docker-registry
  log "down"
}

status() {
  local f
  for f in "$RUN"/*.pid "$RUN25"/*.pid "$RUN08"/*.pid; do
    [ -f "$f" ] || continue
    if alive "$f"; then
      echo "$(basename "$(dirname "$f")")/$(basename "$f" .pid): running (pid $(cat "$f"))"
    else
      echo "$(basename "$(dirname "$f")")/$(basename "$f" .pid): dead"
    fi
  done
  [ -f "$ENVFILE" ] && cat "$ENVFILE"
  [ -f "$ENVFILE25" ] && cat "$ENVFILE25"
  return 0
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  up-v08) up_v08 ;;
  down-v08) down_v08 ;;
  base-images) make_base_images "$ENVFILE" ;;
  *) echo "usage: $0 up|down|status|up-v08|down-v08|base-images" >&2; exit 2 ;;
esac

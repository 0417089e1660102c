#!/usr/bin/env bash
# Regenerate fixtures/ with real BuildKit builds on the test bed (testbed/buildkit.sh).
# Every fixture is an OCI image layout copied byte for byte from the loopback registry (pull_layout.py),
# or a local cache export copied as-is, plus a case.json that records how it was made and, where a
# --cache-from build happened, which steps the build printed as CACHED or ran.
#
#   bash testbed/make-fixtures.sh                   (make fixtures): the v0.13 engine, fixtures/<case>
#   bash testbed/make-fixtures.sh --engine v0.25    (make fixtures ENGINE=v0.25): dockerd 28.5.2 /
#        BuildKit v0.25.2, fixtures/v025-<case>: every cache shape again (the image-manifest default,
#        image-manifest=false, oci-mediatypes=false, local, zstd, inline, min, multi-platform)
#
# A run replaces only its own engine's fixtures. The test bed is started if needed and stopped again at
# the end if this script started it. Build logs stay in build/testbed/logs, work copies of the contexts
# in build/testbed/work.
set -euo pipefail

ENGINE=v0.13
while [ $# -gt 0 ]; do
  case "$1" in
    --engine) ENGINE="${2:-}"; shift 2 ;;
    --engine=*) ENGINE="${1#--engine=}"; shift ;;
    *) echo "usage: $0 [--engine v0.13|v0.25]" >&2; exit 2 ;;
  esac
done
case "$ENGINE" in
  v0.13) PFX="" ENVNAME=env RUNNAME=run ;;
  v0.25) PFX="v025-" ENVNAME=env-v025 RUNNAME=run-v025 ;;
  *) echo "make-fixtures: unknown engine $ENGINE (v0.13 or v0.25)" >&2; exit 2 ;;
esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PY:-$ROOT/.venv/bin/python}"
[ -x "$PY" ] || PY=python3
TB="${TESTBED_DIR:-$ROOT/build/testbed}"
CASES="$ROOT/testbed/cases"
WORK="$TB/work"
LOGS="$TB/logs"
NEW="$TB/fixtures.new"
OUT="$ROOT/fixtures"

log() { echo "make-fixtures: $*" >&2; }

started=0
if ! { [ -f "$TB/$ENVNAME" ] && bash testbed/buildkit.sh status | grep -c "^$RUNNAME/dockerd: running" >/dev/null; }; then
  started=1
fi
cleanup() {
  local rc=$?
  if [ "$started" = 1 ]; then bash testbed/buildkit.sh down || true; else bash testbed/buildkit.sh down-v08 || true; fi
  exit "$rc"
}
trap cleanup EXIT
TESTBED_ENGINES="$ENGINE" bash testbed/buildkit.sh up
# shellcheck disable=SC1090
source "$TB/$ENVNAME"
REG="$TESTBED_REGISTRY"
rm -rf "$WORK" "$LOGS" "$NEW"
mkdir -p "$WORK" "$LOGS" "$NEW"

# ------------------------------------------------------------------------------------------- helpers
# Commands are recorded per "build group" in $WORK/<group>.cmds with the registry address shown as $REG.
record() {  # record GROUP WORDS...: append a command line
  local group="$1"
  shift
  local line="$*"
  line="${line//$REG/\$REG}"
  line="${line//$WORK\//}"
  echo "$line" >>"$WORK/$group.cmds"
}

bx() {  # bx GROUP LOGNAME ARGS...: docker buildx build, plain progress to $LOGS/LOGNAME.log
  local group="$1" name="$2"
  shift 2
  record "$group" docker buildx build --network=host --progress=plain "$@"
  log "build $name"
  if ! docker buildx build --network=host --progress=plain "$@" >"$LOGS/$name.log" 2>&1; then
    tail -40 "$LOGS/$name.log" >&2
    log "build $name failed"
    return 1
  fi
}

prune() {  # prune GROUP: forget everything local (simulates a fresh host)
  record "$1" docker buildx prune -af
  record "$1" docker image prune -af
  docker buildx prune -af >/dev/null
  docker image prune -af >/dev/null
}

context() {  # context NAME CASE: fresh work copy with normalised modes (644 files, 755 dirs)
  local dir="$WORK/$1"
  rm -rf "$dir"
  cp -r "$CASES/$2" "$dir"
  find "$dir" -type d -exec chmod 755 {} +
  find "$dir" -type f -exec chmod 644 {} +
  echo "$dir"
}

pull() {  # pull REF FIXTURE (the fixture name gets the engine's prefix)
  log "pull $1 -> fixtures/$PFX$2"
  "$PY" testbed/pull_layout.py "$1" "$NEW/$PFX$2" >/dev/null
}

write_case() {  # write_case FIXTURE GROUP CASE KIND EXPORT_TYPE MODE ATTRS DESCRIPTION NOTES [extra args...]
  local fx="$1" group="$2" case="$3" kind="$4" etype="$5" mode="$6" attrs="$7" desc="$8" notes="$9"
  shift 9
  fx="$PFX$fx"
  "$PY" testbed/case_json.py write --out "$NEW/$fx/case.json" --name "$fx" --description "$desc" \
    --kind "$kind" --export-type "$etype" --mode "$mode" --attrs "$attrs" \
    --dockerfile "$CASES/$case/Dockerfile" --context-notes "$notes" --commands "$WORK/$group.cmds" \
    --buildkit-version "$BUILDKIT_VERSION" --buildkit-version-reported "$BUILDKIT_VERSION_REPORTED" \
    --buildx-version "$BUILDX_VERSION" --docker-version "$DOCKER_VERSION" --registry "$REG" "$@"
}

# Several --cache-to of one build are exported concurrently; each goes to its own repository, because
# concurrent uploads of the same blob into one repository race in distribution 2.8's filesystem driver
# (HEAD blob -> 500 "invalid checksum digest format", then the manifest PUT fails).

# the default registry cache shape of the engine: BuildKit v0.21+ writes an image manifest
if [ "$ENGINE" = v0.13 ]; then SHAPE="OCI index"; else SHAPE="OCI image manifest, the v0.21+ default"; fi

# ------------------------------------------------------------------------------------------- threestage
g=threestage
prune $g
dir="$(context threestage threestage)"
bx $g threestage --cache-to "type=registry,ref=$REG/cache/${PFX}threestage-max:cache,mode=max" \
  --cache-to "type=registry,ref=$REG/cache/${PFX}threestage-min:cache,mode=min" \
  --cache-to type=inline -t "$REG/img/${PFX}threestage:inline" --push "$dir"
pull "$REG/cache/${PFX}threestage-max:cache" threestage-max
pull "$REG/cache/${PFX}threestage-min:cache" threestage-min
pull "$REG/img/${PFX}threestage:inline" threestage-inline
notes="testbed/cases/threestage as committed, files 644, dirs 755. One build exported all three caches."
write_case threestage-max $g threestage registry-cache registry max '{"mode": "max"}' \
  "Three-stage build (deps / assets / final), registry cache export mode=max ($SHAPE)." "$notes"
write_case threestage-min $g threestage registry-cache registry min '{"mode": "min"}' \
  "Three-stage build (deps / assets / final), registry cache export mode=min ($SHAPE)." "$notes"
write_case threestage-inline $g threestage inline-image inline min '{}' \
  "Three-stage build pushed as an image with --cache-to type=inline (cache in the image config)." "$notes"

# edit assets/js/file1.js (read by the intermediate 'assets' stage), rebuild on a pruned builder
for mode in max min; do
  g="threestage-edit-$mode"
  prune $g
  dir="$(context "threestage-edit-$mode" threestage)"
  echo 'console.log("edited");' >>"$dir/assets/js/file1.js"
  record $g "echo 'console.log(\"edited\");' >> assets/js/file1.js"
  bx $g "threestage-edit-$mode" --cache-from "type=registry,ref=$REG/cache/${PFX}threestage-$mode:cache" \
    --cache-to "type=registry,ref=$REG/cache/${PFX}threestage-edit:$mode,mode=$mode" "$dir"
  pull "$REG/cache/${PFX}threestage-edit:$mode" "threestage-edit-$mode"
  write_case "threestage-edit-$mode" $g threestage registry-cache registry $mode "{\"mode\": \"$mode\"}" \
    "Three-stage build after editing assets/js/file1.js, rebuilt on a pruned builder with --cache-from the mode=$mode cache; new mode=$mode export." \
    "testbed/cases/threestage with one line appended to assets/js/file1.js." \
    --steps-log "$LOGS/threestage-edit-$mode.log" --cache-from "${PFX}threestage-$mode"
done

# ------------------------------------------------------------------------------------------- crosshost
# (v0.13 only: inline-cache cross-host cases; v0.25's inline shape is covered by v025-threestage-inline)
if [ "$ENGINE" = v0.13 ]; then
g=crosshost-a
prune $g
dir="$(context crosshost-a crosshost)"
bx $g crosshost-a --cache-to type=inline -t "$REG/img/${PFX}crosshost:a" --push "$dir"
pull "$REG/img/${PFX}crosshost:a" crosshost-a
write_case crosshost-a $g crosshost inline-image inline min '{}' \
  "Host A: FROM scratch COPY build pushed with inline cache." \
  "testbed/cases/crosshost, app.conf mode 644, no xattrs."

for variant in mode xattr; do
  g="crosshost-b-$variant"
  prune $g
  dir="$(context "crosshost-b-$variant" crosshost)"
  if [ $variant = mode ]; then
    chmod 600 "$dir/app.conf"
    record $g chmod 600 app.conf
    notes="Same as crosshost-a except app.conf has mode 600 instead of 644."
  else
    setfattr -n user.foo -v bar "$dir/app.conf"
    record $g setfattr -n user.foo -v bar app.conf
    notes="Same as crosshost-a except app.conf carries the xattr user.foo=bar."
  fi
  bx $g "crosshost-b-$variant" --cache-from "type=registry,ref=$REG/img/${PFX}crosshost:a" --cache-to type=inline \
    -t "$REG/img/${PFX}crosshost:b-$variant" --push "$dir"
  pull "$REG/img/${PFX}crosshost:b-$variant" "crosshost-b-$variant"
  write_case "crosshost-b-$variant" $g crosshost inline-image inline min '{}' \
    "Host B (pruned builder) builds the crosshost Dockerfile with --cache-from host A's image; the context differs only by $variant." \
    "$notes" --steps-log "$LOGS/crosshost-b-$variant.log" --cache-from crosshost-a
done

# busybox variant: base image and build arg
g=crosshost-a-busybox
prune $g
dir="$(context crosshost-a-busybox crosshost-busybox)"
bx $g crosshost-a-busybox --build-arg "BASE=$REG/base/busybox:1" --cache-to type=inline \
  -t "$REG/img/${PFX}crosshost:a-busybox" --push "$dir"
pull "$REG/img/${PFX}crosshost:a-busybox" crosshost-a-busybox
write_case crosshost-a-busybox $g crosshost-busybox inline-image inline min '{}' \
  "Host A for the base-image and build-arg cases: busybox base, COPY, RUN consuming ARG FLAVOR=plain, COPY; inline cache." \
  "testbed/cases/crosshost-busybox; BASE=\$REG/base/busybox:1 (Debian busybox-static imported), FLAVOR default (plain)."

g=crosshost-b-base
prune $g
dir="$(context crosshost-b-base crosshost-busybox)"
bx $g crosshost-b-base --build-arg "BASE=$REG/base/busybox:2" --cache-from "type=registry,ref=$REG/img/${PFX}crosshost:a-busybox" \
  --cache-to type=inline -t "$REG/img/${PFX}crosshost:b-base" --push "$dir"
pull "$REG/img/${PFX}crosshost:b-base" crosshost-b-base
write_case crosshost-b-base $g crosshost-busybox inline-image inline min '{}' \
  "Host B with a moved base image (busybox:2 = busybox:1 plus /etc/base-variant), --cache-from crosshost-a-busybox." \
  "Same context as crosshost-a-busybox; BASE=\$REG/base/busybox:2." \
  --steps-log "$LOGS/crosshost-b-base.log" --cache-from crosshost-a-busybox

g=crosshost-b-buildarg
prune $g
dir="$(context crosshost-b-buildarg crosshost-busybox)"
bx $g crosshost-b-buildarg --build-arg "BASE=$REG/base/busybox:1" --build-arg FLAVOR=fancy \
  --cache-from "type=registry,ref=$REG/img/${PFX}crosshost:a-busybox" --cache-to type=inline \
  -t "$REG/img/${PFX}crosshost:b-buildarg" --push "$dir"
pull "$REG/img/${PFX}crosshost:b-buildarg" crosshost-b-buildarg
write_case crosshost-b-buildarg $g crosshost-busybox inline-image inline min '{}' \
  "Host B with a different build arg (FLAVOR=fancy) reaching the RUN step, --cache-from crosshost-a-busybox." \
  "Same context and base as crosshost-a-busybox; --build-arg FLAVOR=fancy." \
  --steps-log "$LOGS/crosshost-b-buildarg.log" --cache-from crosshost-a-busybox
fi

# ------------------------------------------------------------------------------------------- variants
g=variants
prune $g
dir="$(context variants variants)"
bx $g variants \
  --cache-to "type=registry,ref=$REG/cache/${PFX}variant-gzip:cache,mode=max" \
  --cache-to "type=registry,ref=$REG/cache/${PFX}variant-image-manifest:cache,mode=max,image-manifest=true" \
  --cache-to "type=registry,ref=$REG/cache/${PFX}variant-docker-mediatypes:cache,mode=max,oci-mediatypes=false" \
  --cache-to "type=local,dest=$WORK/variant-local-cache,mode=max" \
  --cache-to "type=registry,ref=$REG/cache/${PFX}damaged-max:cache,mode=max" "$dir"
if [ "$ENGINE" != v0.13 ]; then  # the index shape, no longer the default
  cp "$WORK/variants.cmds" "$WORK/variants-index.cmds"
  bx variants-index variants-index \
    --cache-to "type=registry,ref=$REG/cache/${PFX}variant-index:cache,mode=max,image-manifest=false" "$dir"
  pull "$REG/cache/${PFX}variant-index:cache" variant-index
  write_case variant-index variants-index variants registry-cache registry max \
    '{"mode": "max", "image-manifest": "false"}' \
    "Variants build re-run on the same builder (all steps cached), registry export mode=max with image-manifest=false (OCI index, the pre-v0.21 default)." \
    "testbed/cases/variants as committed, files 644, dirs 755." --steps-log "$LOGS/variants-index.log"
fi
# zstd: a second build of the same context on the same (unpruned) builder, every step cached, so the
# export recompresses the very same layers
cp "$WORK/variants.cmds" "$WORK/variants-zstd.cmds"
bx variants-zstd variants-zstd \
  --cache-to "type=registry,ref=$REG/cache/${PFX}variant-zstd:cache,mode=max,compression=zstd,force-compression=true" "$dir"
pull "$REG/cache/${PFX}variant-gzip:cache" variant-gzip
pull "$REG/cache/${PFX}variant-image-manifest:cache" variant-image-manifest
pull "$REG/cache/${PFX}variant-docker-mediatypes:cache" variant-docker-mediatypes
pull "$REG/cache/${PFX}variant-zstd:cache" variant-zstd
pull "$REG/cache/${PFX}damaged-max:cache" damaged-max
cp -r "$WORK/variant-local-cache" "$NEW/${PFX}variant-local"
notes="testbed/cases/variants as committed, files 644, dirs 755. One build wrote all gzip/local exports."
write_case variant-gzip $g variants registry-cache registry max '{"mode": "max"}' \
  "Variants build, plain registry export mode=max (gzip, $SHAPE): the reference for the other variants." "$notes"
write_case variant-image-manifest $g variants registry-cache registry max '{"mode": "max", "image-manifest": "true"}' \
  "Variants build, registry export mode=max with image-manifest=true (OCI image manifest, cacheconfig as config)." "$notes"
write_case variant-docker-mediatypes $g variants registry-cache registry max '{"mode": "max", "oci-mediatypes": "false"}' \
  "Variants build, registry export mode=max with oci-mediatypes=false (Docker manifest list)." "$notes"
write_case variant-local $g variants local-cache local max "{\"mode\": \"max\", \"dest\": \"variant-local-cache\"}" \
  "Variants build, --cache-to type=local (OCI layout written by BuildKit, copied as-is)." "$notes"
write_case variant-zstd variants-zstd variants registry-cache registry max \
  '{"mode": "max", "compression": "zstd", "force-compression": "true"}' \
  "Variants build re-run on the same builder (all steps cached), registry export mode=max with compression=zstd,force-compression=true." \
  "$notes" --steps-log "$LOGS/variants-zstd.log"
delete_blob="$("$PY" - "$NEW/${PFX}damaged-max" <<'EOF'
import json, sys
from pathlib import Path
root = Path(sys.argv[1])
idx = json.loads((root / "index.json").read_text())
body = json.loads((root / "blobs/sha256" / idx["manifests"][0]["digest"].split(":")[1]).read_text())
descs = body.get("manifests") or body.get("layers") or []  # index shape, or image-manifest shape
layers = [d for d in descs if "layer" in d["mediaType"] or "rootfs" in d["mediaType"]]
# the largest layer: a content layer, not the shared empty one
print(max(layers, key=lambda d: (d["size"], d["digest"]))["digest"])
EOF
)"
write_case damaged-max $g variants registry-cache registry max '{"mode": "max"}' \
  "A mode=max export stored intact; the test helper deletes delete_blob from the registry after pushing it, making a cache whose layer blob is gone." \
  "$notes" --delete-blob "$delete_blob"

# ------------------------------------------------------------------------------------------- multiplatform
g=multiplatform
prune $g
dir="$(context multiplatform multiplatform)"
bx $g multiplatform --platform linux/amd64,linux/arm64 \
  --cache-to "type=registry,ref=$REG/cache/${PFX}multiplatform:max,mode=max" "$dir"
pull "$REG/cache/${PFX}multiplatform:max" multiplatform-max
write_case multiplatform-max $g multiplatform registry-cache registry max '{"mode": "max"}' \
  "Two-platform build (COPY only, no emulation needed; one COPY shared, later ones per TARGETARCH), registry export mode=max." \
  "testbed/cases/multiplatform, files 644, dirs 755." --platforms linux/amd64,linux/arm64

# ------------------------------------------------------------------------------------------- v0.8
# bookworm's dockerd 20.10 (BuildKit v0.8) with its own 20.10 client: the legacy inline-cache format
g=v08-inline
if [ "$ENGINE" != v0.13 ]; then
  :  # made with the v0.13 fixtures
elif bash testbed/buildkit.sh up-v08 >"$LOGS/v08-up.log" 2>&1; then
  # shellcheck disable=SC1091
  source "$TB/env-v08"
  dir="$(context v08-inline crosshost)"
  d08() { DOCKER_HOST="$DOCKER08_HOST" DOCKER_CONFIG="$DOCKER08_CONFIG" "$DOCKER08" "$@"; }
  record $g docker builder prune -af
  record $g docker image prune -af
  d08 builder prune -af >/dev/null
  d08 image prune -af >/dev/null
  line="DOCKER_BUILDKIT=1 docker build --network=host --progress=plain --build-arg BUILDKIT_INLINE_CACHE=1 -t $REG/img/${PFX}v08:inline $dir"
  record $g "$line"
  record $g docker push "$REG/img/${PFX}v08:inline"
  log "build v08-inline (dockerd $DOCKER08_VERSION)"
  if DOCKER_HOST="$DOCKER08_HOST" DOCKER_CONFIG="$DOCKER08_CONFIG" DOCKER_BUILDKIT=1 "$DOCKER08" build \
    --network=host --progress=plain --build-arg BUILDKIT_INLINE_CACHE=1 -t "$REG/img/${PFX}v08:inline" "$dir" \
    >"$LOGS/v08-inline.log" 2>&1 &&
    DOCKER_HOST="$DOCKER08_HOST" DOCKER_CONFIG="$DOCKER08_CONFIG" "$DOCKER08" push "$REG/img/${PFX}v08:inline" \
      >>"$LOGS/v08-inline.log" 2>&1; then
    pull "$REG/img/${PFX}v08:inline" v08-inline
    DOCKER_VERSION="$DOCKER08_VERSION" BUILDKIT_VERSION="v0.8" \
      BUILDKIT_VERSION_REPORTED="" BUILDX_VERSION="" \
      write_case v08-inline $g crosshost inline-image inline min '{"BUILDKIT_INLINE_CACHE": "1"}' \
      "BuildKit v0.8 (bookworm dockerd 20.10, classic 'DOCKER_BUILDKIT=1 docker build') image with inline cache, pushed as a Docker schema 2 image." \
      "testbed/cases/crosshost, files 644. Built by the 20.10 client against dockerd 20.10 (vfs storage driver)." \
      --extra '{"buildkit_version_note": "dockerd 20.10 embeds the BuildKit v0.8 line (Debian bookworm docker.io 20.10.24)"}'
  else
    tail -30 "$LOGS/v08-inline.log" >&2
    log "v08-inline build failed; see $LOGS/v08-inline.log"
    exit 1
  fi
  bash testbed/buildkit.sh down-v08
else
  cat "$LOGS/v08-up.log" >&2
  log "dockerd 20.10 did not start; see $LOGS/v08-up.log"
  exit 1
fi

# ------------------------------------------------------------------------------------------- install
# replace this engine's fixtures only (v0.13: fixtures/<case> without a v025- prefix; v0.25: v025-*)
mkdir -p "$OUT"
for old in "$OUT"/*/; do
  [ -d "$old" ] || continue
  name="$(basename "$old")"
  case "$ENGINE:$name" in
    v0.13:v025-*) ;;
    v0.13:*) rm -rf "$old" ;;
    *:v025-*) rm -rf "$old" ;;
  esac
done
cp -r "$NEW"/. "$OUT"/
log "fixtures written ($ENGINE): $(ls "$NEW" | wc -l) cases, $(du -sh "$NEW" | cut -f1)"

#!/usr/bin/env bash
# Install the Debian packages the tests and benchmarks use, only when missing (one apt-get update).
#   docker-registry  the real registry the integration tests run (CNCF distribution 2.8)
#   wrk, ab          load generators for the blob-existence ceiling in `make bench`
#                    (wrk cannot HEAD: wg/wrk#198, so ab measures the HEAD ceiling)
set -euo pipefail
declare -A pkg_of=([docker-registry]=docker-registry [wrk]=wrk [ab]=apache2-utils)
missing=()
for cmd in "${!pkg_of[@]}"; do
  command -v "$cmd" >/dev/null || missing+=("${pkg_of[$cmd]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "apt-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Another apt (unattended-upgrades, a parallel job) may hold the dpkg/lists locks: wait up to
  # 10 minutes for them instead of failing at once.
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Shared build environment for Safeport's scripts (sourced, not executed).
# One target directory outside the clone, so every clone and CI run on this machine reuses
# the RocksDB build (the most expensive part by far), and sccache when it is installed.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/safeport-target}"
if command -v sccache >/dev/null 2>&1; then
  export RUSTC_WRAPPER="${RUSTC_WRAPPER:-sccache}"
  export SCCACHE_DIR="${SCCACHE_DIR:-/var/tmp/safeport-sccache}"
  export SCCACHE_CACHE_SIZE="${SCCACHE_CACHE_SIZE:-10G}"
fi
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

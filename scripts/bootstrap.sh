#!/usr/bin/env bash
# Installs what building and testing Safeport needs on a fresh Debian machine, and nothing else:
# libclang (the rocksdb crate's bindgen), a C++ compiler (RocksDB), openssl (interop tests),
# sccache (build cache, optional), and the DNS tools the IWOL tests load the exported zone
# into: unbound, named-checkzone (bind9-utils) and dig (bind9-dnsutils); unzip and zip, with
# which the package tests check (and tamper with) intelligence packages as a recipient would;
# chromium and chromium-driver, which the portal's browser tests drive headless. Idempotent: installed
# packages are skipped.
set -euo pipefail
need=()
dpkg -s libclang-dev >/dev/null 2>&1 || need+=(libclang-dev)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v sccache >/dev/null 2>&1 || need+=(sccache)
command -v make >/dev/null 2>&1 || need+=(make)
[ -x /usr/sbin/unbound ] || command -v unbound >/dev/null 2>&1 || need+=(unbound)
command -v named-checkzone >/dev/null 2>&1 || need+=(bind9-utils)
command -v dig >/dev/null 2>&1 || need+=(bind9-dnsutils)
command -v unzip >/dev/null 2>&1 || need+=(unzip)
command -v zip >/dev/null 2>&1 || need+=(zip)
# `script` gives the CLI's progress test a pseudo-terminal (Debian: essential, but be sure).
command -v script >/dev/null 2>&1 || need+=(bsdutils)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
if [ "${#need[@]}" -gt 0 ]; then
  echo "bootstrap: installing ${need[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "bootstrap: cargo is not installed; install the Rust toolchain (rustup) first" >&2
  exit 1
fi
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt >/dev/null 2>&1 || true

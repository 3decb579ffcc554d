#!/usr/bin/env bash
# The test command (README.md, .ci/run): installs what the build needs, then checks formatting,
# lints with warnings denied, and runs every test in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
. scripts/env.sh
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy (warnings denied)"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked

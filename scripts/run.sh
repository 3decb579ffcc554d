#!/usr/bin/env bash
# The run command (README.md): installs what the build needs, builds and starts a Safeport node.
# With no arguments the node starts on embedded defaults: data in ./safeport-data and a clearly
# labelled development federation created on first start. Arguments go to `safeport-node`,
# e.g. `./scripts/run.sh run --config node.toml`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
. scripts/env.sh
if [ "$#" -eq 0 ]; then
  set -- run
fi
exec cargo run --locked -p safeport-node --bin safeport-node -- "$@"

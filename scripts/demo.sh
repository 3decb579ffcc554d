#!/usr/bin/env bash
# The demo command (README.md): installs what the build needs, builds Safeport and starts a
# complete demo federation on loopback (INTERPOL, the NL and DE hotlines, the NL police, test
# websites of generated pictures, seeded casework; synthetic data only). It prints each node's
# portal address with demo logins and runs until Ctrl-C. Data lives in ./safeport-demo and is
# reused on the next start. Arguments go to `safeport-node demo`, e.g.
# `./scripts/demo.sh --fresh` (start over) or `./scripts/demo.sh --dir /tmp/demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
. scripts/env.sh
exec cargo run --locked -p safeport-node --bin safeport-node -- demo "$@"

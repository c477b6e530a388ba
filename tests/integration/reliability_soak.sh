#!/usr/bin/env bash
# The soak test (tests/soak/soak.sh) bounded for the suite: SOAK_SECONDS (default 45)
# of real load while every insitu daemon runs.  tests/soak/ is not one of the
# directories tests/run walks by default, so the suite reaches it through this file.
# timeout: 300
export SOAK_SECONDS=${SOAK_SECONDS:-45}
exec "$(dirname "$0")/../soak/soak.sh"

#!/bin/sh
# tools/demo.sh: set this machine up, build ecs-agent and run its main job against the embedded
# default. (Until the local control plane lands this builds the agent and validates its
# configuration.)
set -eu
cd "$(dirname "$0")/.."
tools/setup.sh
[ -f build/build.ninja ] || meson setup build
meson compile -C build
build/ecs-agent -version

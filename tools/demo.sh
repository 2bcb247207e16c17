#!/bin/sh
# tools/demo.sh [ecs-agent flags...]: set this fresh Debian 12 machine up (as root), build ecs-agent
# and run its main job.
#
# Until the local control plane lands, the main job is the configuration check: the agent reads its
# settings exactly as the Amazon ECS agent v1.16.2 does (environment, /etc/ecs_container_agent/config.json
# or $ECS_AGENT_CONFIG_FILE_PATH, defaults), prints every one with where it came from and secrets
# redacted, and exits 0 when they are valid. Try, for example:
#   ECS_RESERVED_PORTS=oops tools/demo.sh       one warning naming the variable; the default applies
#   ECS_INSTANCE_ATTRIBUTES='{' tools/demo.sh   fatal: exit 1, the error names the variable
set -eu
cd "$(dirname "$0")/.."
tools/setup.sh
[ -f build/build.ninja ] || meson setup build
meson compile -C build
echo "=== build/ecs-agent -version"
build/ecs-agent -version
echo "=== build/ecs-agent -check-config $*"
exec build/ecs-agent -check-config "$@"

#!/bin/sh
# check-agent-exports.sh <ecs-agent>: the agent exports none of its own symbols, so a plugin cannot
# reach the agent except through EcsaPluginHost (core/ecs-agent.map).
set -eu
bin=$1
own=$(nm -D --defined-only "$bin" | awk '$2 ~ /^[TDBRVWiu]$/ && $3 ~ /^(ecsa_|Ecsa)/ {print $3}')
if [ -n "$own" ]; then
  echo "$bin exports its own symbols:" >&2
  echo "$own" >&2
  exit 1
fi
echo "$bin: exports none of the agent's symbols"

#!/bin/sh
# check-exports.sh <plugin.so>: the module must export exactly ecsa_plugin_get_descriptor.
set -eu
so=$1
exports=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVWiu]$/ {print $3}' | sort)
if [ "$exports" != "ecsa_plugin_get_descriptor" ]; then
  echo "$so exports:" >&2
  echo "$exports" >&2
  echo "expected only: ecsa_plugin_get_descriptor" >&2
  exit 1
fi
echo "$so: exports only ecsa_plugin_get_descriptor"

#!/bin/bash
# check-builtin-plugins.sh SOURCE_ROOT BUILD_ROOT PLUGINS AGENT: -Dbuiltin_plugins=true.
#   PLUGINS: the plugins of the calling build, comma-separated ("log-none,auth-ecr,..."); the
#            builtin configuration enables exactly these and disables the others.
#   AGENT:   ecs-agent-builtin (tests/meson.build): ecs-agent linked with every plugin built in.
# Checks that
#  - a separate build dir (BUILD_ROOT/builtin-plugins, kept: later runs reconfigure) configures with
#    builtin_plugins=true and warnings as errors, defines no plugin shared module, and its generated
#    ecsa-builtin-plugins.c lists one entry per plugin;
#  - AGENT holds one descriptor per plugin and, started with an empty plugin directory against the
#    real dockerd, loads every plugin "built in" (or reports it "not enabled on this host"), none
#    from a file, refuses none, and exits 0 on SIGTERM.
#  - a build dir with every plugin disabled (BUILD_ROOT/no-plugins) configures and compiles no
#    plugin's own sources (the test programs of a disabled plugin are not built);
# With ECSA_TEST_BUILTIN_BUILD=1 the separate build dir's own ecs-agent is also built (minutes) and
# checked the same way. Prints TAP.
set -u
src=$1
dir=$2/builtin-plugins
plugins=$3
agents=$4
n=0
failed=0
tmp=$(mktemp -d /tmp/ecsa-t$$-builtin-XXXXXX)
agent_pid=
cleanup() {
  if [ -n "$agent_pid" ]; then kill -KILL "$agent_pid" 2>/dev/null; wait "$agent_pid" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }
bail() { not_ok "$1"; echo "1..$n"; exit 1; }

# every plugin option of the tree: enabled when the calling build has the plugin, else disabled
opts=""
for opt in $(sed -n "s/^option('plugin_\([a-z0-9_]*\)'.*/\1/p" "$src/meson_options.txt"); do
  name=$(echo "$opt" | tr _ -)
  case ",$plugins," in
    *",$name,"*) opts="$opts -Dplugin_$opt=enabled" ;;
    *) opts="$opts -Dplugin_$opt=disabled" ;;
  esac
done
expected=$(echo "$plugins" | tr , '\n' | grep -c .)

# ---- the configuration --------------------------------------------------------------------------
# shellcheck disable=SC2086
if [ -f "$dir/build.ninja" ]; then
  meson setup --reconfigure "$dir" "$src" -Dbuiltin_plugins=true -Dwerror=true $opts >"$tmp/setup.log" 2>&1
else
  meson setup "$dir" "$src" -Dbuiltin_plugins=true -Dwerror=true -Dtests=false -Dcontrol_plane=false \
    -Dfuzzing=false $opts >"$tmp/setup.log" 2>&1
fi || { cat "$tmp/setup.log" >&2; bail "meson setup -Dbuiltin_plugins=true"; }
ok "meson setup -Dbuiltin_plugins=true -Dwerror=true ($expected plugins enabled)"

meson introspect "$dir" --targets >"$tmp/targets.json" || bail "meson introspect --targets"
python3 - "$tmp/targets.json" <<'PY' >"$tmp/targets.txt"
import json, sys
for t in json.load(open(sys.argv[1])):
    print(t["type"], t["name"], " ".join(s for ts in t.get("target_sources", []) for s in ts.get("sources", []) + ts.get("generated_sources", [])))
PY
mods=$(grep -c '^shared module ecsa-plugin-' "$tmp/targets.txt")
if [ "$mods" -eq 0 ]; then ok "no plugin shared module is defined"; else not_ok "$mods plugin shared modules defined"; fi
if grep -q '^executable ecs-agent .*ecsa-builtin-plugins\.c' "$tmp/targets.txt"; then
  ok "ecs-agent takes the generated built-in table"
else
  not_ok "ecs-agent does not take ecsa-builtin-plugins.c"
fi
entries=$(grep -c '^  ecsa_plugin_.*_get_descriptor,$' "$dir/plugins/ecsa-builtin-plugins.c")
if [ "$entries" -eq "$expected" ]; then
  ok "the built-in table lists $entries plugins"
else
  not_ok "the built-in table lists $entries plugins, expected $expected"
fi

# ---- every plugin disabled (-Dplugin_x=disabled): configures, and nothing compiles a plugin's own
# sources (plugins/<kind>-<name>/, tests included); plugins/common is shared and stays.
nodir=$2/no-plugins
noopts=$(echo "$opts" | sed 's/=enabled/=disabled/g')
# shellcheck disable=SC2086
if [ -f "$nodir/build.ninja" ]; then
  meson setup --reconfigure "$nodir" "$src" $noopts >"$tmp/nosetup.log" 2>&1
else
  meson setup "$nodir" "$src" -Dwerror=true -Dfuzzing=false $noopts >"$tmp/nosetup.log" 2>&1
fi || { cat "$tmp/nosetup.log" >&2; bail "meson setup with every plugin disabled"; }
ok "meson setup with every plugin disabled"
meson introspect "$nodir" --targets >"$tmp/notargets.json" || bail "meson introspect --targets (no plugins)"
python3 - "$tmp/notargets.json" "$src" <<'PY' >"$tmp/noplugin-sources.txt"
import json, os, sys
src = os.path.realpath(sys.argv[2])
for t in json.load(open(sys.argv[1])):
    for ts in t.get("target_sources", []):
        for s in ts.get("sources", []):
            rel = os.path.relpath(os.path.realpath(s), src)
            if rel.startswith("plugins/") and not rel.startswith("plugins/common/") and rel.count("/") > 1:
                print(t["name"], rel)
PY
if [ -s "$tmp/noplugin-sources.txt" ]; then
  sed 's/^/# /' "$tmp/noplugin-sources.txt"
  not_ok "with every plugin disabled, targets still compile plugin sources"
else
  ok "with every plugin disabled, no target compiles a plugin's sources"
fi

if [ "${ECSA_TEST_BUILTIN_BUILD:-0}" = 1 ]; then
  if meson compile -C "$dir" ecs-agent >"$tmp/build.log" 2>&1; then
    ok "the builtin configuration's ecs-agent builds"
    agents="$agents $dir/ecs-agent"
  else
    tail -n 50 "$tmp/build.log" >&2
    not_ok "the builtin configuration's ecs-agent does not build"
  fi
fi

# ---- the agent with its plugins linked in -------------------------------------------------------
# The agent runs in a network namespace of its own (only loopback): its servers' fixed ports
# (51678/51679) never meet another test's, and nothing leaves the machine.
mkdir "$tmp/no-plugins" "$tmp/data"
# The agent registers before it reports started: a loopback ECS inside the namespace answers
# RegisterContainerInstance (echoing the attributes, as ECS does) and DiscoverPollEndpoint (ACS and
# TCS on the discard port: the sessions keep retrying, which this test does not look at).
cat >"$tmp/fake-ecs.py" <<'PY'
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers.get('Content-Length', 0))) or b'{}')
        op = self.headers.get('X-Amz-Target', '').split('.')[-1]
        if op == 'RegisterContainerInstance':
            out = {'containerInstance': {'containerInstanceArn': 'arn:aws:ecs:us-west-2:123456789012:container-instance/'
                                         + req.get('cluster', 'default') + '/builtin', 'attributes': req.get('attributes', [])}}
        elif op == 'DiscoverPollEndpoint':
            out = {'endpoint': 'http://127.0.0.1:9/', 'telemetryEndpoint': 'http://127.0.0.1:9/'}
        else:
            out = {}
        body = json.dumps(out).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/x-amz-json-1.1')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
import os
parent = os.getppid()  # the shell that becomes the agent: this server ends with it
server = http.server.HTTPServer(('127.0.0.1', 8080), H)
server.timeout = 0.5
open(sys.argv[1], 'w').close()
while os.getppid() == parent:
    server.handle_request()
PY
for agent in $agents; do
  what=$(basename "$agent")
  descriptors=$(nm "$agent" | grep -c ' [Tt] ecsa_plugin_.*_get_descriptor$')
  if [ "$descriptors" -eq "$expected" ]; then
    ok "$what holds $descriptors plugin descriptors"
  else
    not_ok "$what holds $descriptors plugin descriptors, expected $expected"
  fi

  # the log exists before the agent starts: `tail -f` below must not race its creation
  : >"$tmp/agent.log"
  # no instance metadata, the loopback ECS; Docker through its socket
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    ${ASAN_OPTIONS+ASAN_OPTIONS="$ASAN_OPTIONS"} ${UBSAN_OPTIONS+UBSAN_OPTIONS="$UBSAN_OPTIONS"} \
    ${LSAN_OPTIONS+LSAN_OPTIONS="$LSAN_OPTIONS"} \
    ECS_AGENT_CONFIG_FILE_PATH="$tmp/no-such-config.json" \
    AWS_DEFAULT_REGION=us-west-2 AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=ecsa-test-not-a-key \
    ECS_BACKEND_HOST=http://127.0.0.1:8080 ECS_CLUSTER="ecsa-t$$-builtin" ECS_CHECKPOINT=false \
    ECS_DATADIR="$tmp/data" DOCKER_HOST=unix:///var/run/docker.sock ECSA_PLUGIN_DIR="$tmp/no-plugins" \
    ECS_LOGLEVEL=info \
    unshare --net sh -c 'ip link set lo up && rm -f "$1" && { python3 "$2" "$1" & } &&
      for i in $(seq 100); do [ -e "$1" ] && break; sleep 0.1; done && exec "$0" -blackhole-ec2-metadata' \
      "$agent" "$tmp/ecs-ready" "$tmp/fake-ecs.py" >>"$tmp/agent.log" 2>&1 &
  agent_pid=$!
  # until the start-up line (the plugin step comes before it), at most 60 s
  if timeout 60 grep -q -m1 'ecs-agent .* started' <(tail -n +1 -f --pid="$agent_pid" "$tmp/agent.log"); then
    ok "$what starts"
  else
    sed 's/^/# /' "$tmp/agent.log"
    bail "$what did not start within 60 s"
  fi
  kill -TERM "$agent_pid"
  wait "$agent_pid"
  rc=$?
  agent_pid=
  if [ "$rc" -eq 0 ]; then ok "$what exits 0 on SIGTERM"; else not_ok "$what exited $rc on SIGTERM"; fi
  grep -i "plugin\|built in\|not enabled" "$tmp/agent.log" | sed 's/^/# /'

  builtin=$(grep -c "loaded .*, built in" "$tmp/agent.log")
  # "<kind> '<name>' not enabled on this host: ..." or "log-driver '<name>' not enabled: '<driver>' is not in
  # ECS_AVAILABLE_LOGGING_DRIVERS"
  disabled=$(grep -c "' not enabled" "$tmp/agent.log")
  if [ $((builtin + disabled)) -eq "$expected" ] && { [ "$builtin" -gt 0 ] || [ "$expected" -eq 0 ]; }; then
    ok "$what: $builtin plugins loaded built in, $disabled not enabled"
  else
    not_ok "$what: $builtin plugins loaded built in and $disabled not enabled, expected $expected in all"
  fi
  if grep -q "loaded .* from '" "$tmp/agent.log"; then not_ok "$what loaded a plugin from a file"; else ok "$what loaded no plugin from a file"; fi
  if grep -q "skipping plugin" "$tmp/agent.log"; then not_ok "$what refused a plugin"; else ok "$what refused no plugin"; fi
done

echo "1..$n"
exit $failed

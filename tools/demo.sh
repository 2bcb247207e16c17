#!/bin/sh
# tools/demo.sh [--keep]: on a fresh Debian 12 machine (as root), set up, build, and show ecs-agent
# doing its main job against ecs-local, the local ECS control plane (docs/ECS-LOCAL.md):
#   1. tools/setup.sh (apt packages, cgroups, dockerd, the offline test image), meson build
#   2. ecs-local on free ports, with a fresh state directory (CA, credentials, instance metadata)
#   3. the real ecs-agent, configured by ecs-local's agent.env (ECS_BACKEND_HOST, SSL_CERT_FILE,
#      AWS_EC2_METADATA_SERVICE_ENDPOINT): it registers its container instance and opens ACS and TCS
#   4. the real AWS CLI: register-task-definition, run-task (an HTTP server from
#      ecsa-test/busybox on a host port), describe-tasks until RUNNING; the container in
#      `docker ps`, its page, the agent's introspection API (:51678/v1/metadata, /v1/tasks);
#      stop-task, describe-tasks until STOPPED (stop code, exit code)
#   5. shuts everything down (SIGTERM: the agent, then ecs-local) and removes the demo's containers
#      and its guard rule; exit 0 only if every step did what it should.
# --keep   stop after step 4 with ecs-local and the agent still running, and print how to drive
#          them with the AWS CLI and how to stop them (the state directory stays).
# Environment: ECSA_DEMO_TIMEOUT (seconds per wait, 90), ECSA_BUILDDIR (build).
set -eu
cd "$(dirname "$0")/.."
src=$(pwd)

keep=0
for arg in "$@"; do
  case "$arg" in
    --keep) keep=1 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown argument '$arg' (only --keep)" >&2; exit 2 ;;
  esac
done
timeout_s=${ECSA_DEMO_TIMEOUT:-90}
builddir=${ECSA_BUILDDIR:-build}

say() { printf '\n=== %s\n' "$*"; }
note() { printf 'demo: %s\n' "$*"; }
# Print a command, then run it.
show() { printf '$ %s\n' "$*"; "$@"; }
die() {
  printf 'demo: FAILED: %s\n' "$*" >&2
  if [ -n "${state:-}" ] && [ -f "$state/ecs-agent.log" ]; then
    printf -- '--- last lines of the agent log (%s)\n' "$state/ecs-agent.log" >&2
    tail -n 30 "$state/ecs-agent.log" >&2
  fi
  if [ -n "${state:-}" ] && [ -f "$state/ecs-local.log" ]; then
    printf -- '--- last lines of the ecs-local log (%s)\n' "$state/ecs-local.log" >&2
    tail -n 15 "$state/ecs-local.log" >&2
  fi
  exit 1
}

say "1. set up this machine and build"
tools/setup.sh
[ -f "$builddir/build.ninja" ] || meson setup "$builddir"
buildlog="$builddir/ecsa-demo-build.log"
note "building in $builddir (log: $buildlog)"
meson compile -C "$builddir" >"$buildlog" 2>&1 || { tail -n 40 "$buildlog"; die "the build failed"; }
agent_bin="$src/$builddir/ecs-agent"
local_bin="$src/$builddir/tools/ecs-local/ecs-local"
[ -x "$agent_bin" ] || die "$agent_bin was not built"
[ -x "$local_bin" ] || die "$local_bin was not built (meson option control_plane=false?)"
show "$agent_bin" -version

# Everything the demo creates carries this name; the exit trap removes it (unless --keep).
name="ecsa-demo$$"
cluster="$name"
state=$(mktemp -d "${TMPDIR:-/tmp}/$name-XXXXXX")
local_pid=""
agent_pid=""
guard_rule="OUTPUT -d 169.254.169.254/32 -m comment --comment $name-guard -j REJECT"

cleanup() {
  rc=$?
  trap - EXIT INT TERM
  if [ -n "$agent_pid" ] && kill -0 "$agent_pid" 2>/dev/null; then
    kill -TERM "$agent_pid" 2>/dev/null || true
    wait "$agent_pid" 2>/dev/null || true
  fi
  if [ -n "$local_pid" ] && kill -0 "$local_pid" 2>/dev/null; then
    kill -TERM "$local_pid" 2>/dev/null || true
    wait "$local_pid" 2>/dev/null || true
  fi
  ids=$(docker ps -aq --filter "label=com.amazonaws.ecs.cluster=$cluster" 2>/dev/null || true)
  # shellcheck disable=SC2086
  [ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1 || true
  # shellcheck disable=SC2086
  iptables -D $guard_rule 2>/dev/null || true
  if [ $rc -eq 0 ]; then rm -rf "$state"; else note "kept $state for a look (logs inside)"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The agent reaches instance metadata at ecs-local; nothing it runs may reach the real one.
# shellcheck disable=SC2086
iptables -I $guard_rule

say "2. start ecs-local, the local ECS control plane"
# Free ports for the API, TCS and instance metadata, so the demo can run beside the tests.
"$local_bin" --state-dir "$state/ecs-local" --port 0 --tcs-port 0 --imds-port 0 \
  >"$state/ecs-local.out" 2>"$state/ecs-local.log" </dev/null &
local_pid=$!
deadline=$(($(date +%s) + timeout_s))
until grep -q '^ECS_LOCAL_READY ' "$state/ecs-local.out" 2>/dev/null; do
  kill -0 "$local_pid" 2>/dev/null || die "ecs-local exited"
  [ "$(date +%s)" -le $deadline ] || die "ecs-local was not ready in $timeout_s s"
  sleep 0.1
done
cat "$state/ecs-local.out"
show cat "$state/ecs-local/agent.env"
# The AWS CLI's settings: ECS_LOCAL_ENDPOINT, AWS_CA_BUNDLE, its credentials file, the region.
# shellcheck disable=SC1091
. "$state/ecs-local/env"
# Debian's AWS CLI (setup.sh installs it), not another one earlier in PATH.
aws=aws; [ ! -x /usr/bin/aws ] || aws=/usr/bin/aws
ecs() { show "$aws" --endpoint-url "$ECS_LOCAL_ENDPOINT" ecs "$@"; }
ecs_quiet() { "$aws" --endpoint-url "$ECS_LOCAL_ENDPOINT" ecs "$@"; }
ecs create-cluster --cluster-name "$cluster" --query 'cluster.[clusterArn,status]' --output text

say "3. start ecs-agent against it"
# The agent holds the fixed ports 51678 (introspection) and 51679 (credentials): wait for any
# test that holds them (they take this lock) to finish.
exec 9>/tmp/ecsa-fixed-ports.lock
flock -w "$timeout_s" 9 || die "51678/51679 stayed busy (/tmp/ecsa-fixed-ports.lock) for $timeout_s s"
(
  set -a
  # shellcheck disable=SC1091
  . "$state/ecs-local/agent.env"
  set +a
  unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE
  export ECS_CLUSTER="$cluster" ECS_DATADIR="$state/agent-data" ECS_LOGFILE="$state/ecs-agent.log" \
    ECS_LOGLEVEL=info
  printf '$ env '; grep -v '^#' "$state/ecs-local/agent.env" | tr '\n' ' '
  printf 'ECS_CLUSTER=%s ECS_DATADIR=%s ECS_LOGFILE=%s %s &\n' "$ECS_CLUSTER" "$ECS_DATADIR" "$ECS_LOGFILE" "$agent_bin"
  # fd 9 (the lock) stays open in the agent: the ports are taken as long as it runs.
  exec "$agent_bin" >"$state/ecs-agent.out" 2>&1 </dev/null
) &
agent_pid=$!

deadline=$(($(date +%s) + timeout_s))
instance=""
while :; do
  kill -0 "$agent_pid" 2>/dev/null || { tail -n 20 "$state/ecs-agent.out" >&2; die "ecs-agent exited"; }
  instance=$(ecs_quiet list-container-instances --cluster "$cluster" --query 'containerInstanceArns[0]' \
    --output text 2>/dev/null || true)
  if [ -n "$instance" ] && [ "$instance" != "None" ]; then
    connected=$(ecs_quiet describe-container-instances --cluster "$cluster" --container-instances "$instance" \
      --query 'containerInstances[0].agentConnected' --output text 2>/dev/null || true)
    [ "$connected" = "True" ] && break
  fi
  [ "$(date +%s)" -le $deadline ] || die "the agent did not register and connect in $timeout_s s"
  sleep 0.5
done
note "the agent registered $instance and its ACS session is up"
# shellcheck disable=SC2016
ecs describe-container-instances --cluster "$cluster" --container-instances "$instance" \
  --query 'containerInstances[0].{status:status,agentConnected:agentConnected,ec2InstanceId:ec2InstanceId,versionInfo:versionInfo,registeredCpu:registeredResources[?name==`CPU`].integerValue|[0],registeredMemory:registeredResources[?name==`MEMORY`].integerValue|[0]}'

say "4. run a task with the AWS CLI"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$state/taskdef.json" <<EOF
{
  "family": "$name-web",
  "containerDefinitions": [{
    "name": "web",
    "image": "ecsa-test/busybox:latest",
    "memory": 32,
    "essential": true,
    "entryPoint": ["sh", "-c"],
    "command": ["mkdir -p /www && echo 'hello from a task run by ecs-agent' > /www/index.html; trap 'exit 0' TERM; httpd -f -p 80 -h /www & wait"],
    "portMappings": [{"containerPort": 80, "hostPort": $port, "protocol": "tcp"}]
  }]
}
EOF
ecs register-task-definition --cli-input-json "file://$state/taskdef.json" \
  --query 'taskDefinition.[taskDefinitionArn,status]' --output text
printf '$ %s --endpoint-url %s ecs run-task --cluster %s --task-definition %s\n' "$aws" "$ECS_LOCAL_ENDPOINT" \
  "$cluster" "$name-web"
task=$(ecs_quiet run-task --cluster "$cluster" --task-definition "$name-web" --query 'tasks[0].taskArn' --output text)
if [ -z "$task" ] || [ "$task" = "None" ]; then die "run-task placed no task"; fi
note "task $task"

# describe-tasks until lastStatus is $1
wait_status() {
  deadline=$(($(date +%s) + timeout_s))
  while :; do
    kill -0 "$agent_pid" 2>/dev/null || die "ecs-agent exited"
    st=$(ecs_quiet describe-tasks --cluster "$cluster" --tasks "$task" --query 'tasks[0].lastStatus' --output text)
    [ "$st" = "$1" ] && break
    [ "$(date +%s)" -le $deadline ] || die "the task is $st, not $1, after $timeout_s s"
    sleep 0.5
  done
  note "the task is $1"
}
wait_status RUNNING
ecs describe-tasks --cluster "$cluster" --tasks "$task" \
  --query 'tasks[0].{lastStatus:lastStatus,desiredStatus:desiredStatus,containerInstanceArn:containerInstanceArn,container:containers[0].name,containerStatus:containers[0].lastStatus,networkBindings:containers[0].networkBindings}'
show docker ps --filter "label=com.amazonaws.ecs.task-arn=$task" \
  --format 'table {{.ID}}\t{{.Image}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}'
[ -n "$(docker ps -q --filter "label=com.amazonaws.ecs.task-arn=$task")" ] || die "no running container of the task"
printf '$ curl http://127.0.0.1:%s/\n' "$port"
page=$(curl -sf --max-time 5 "http://127.0.0.1:$port/") || die "the task's server did not answer on :$port"
printf '%s\n' "$page"
[ "$page" = "hello from a task run by ecs-agent" ] || die "unexpected page from :$port"

say "the agent's introspection API"
for path in /v1/metadata /v1/tasks; do
  printf '$ curl http://localhost:51678%s\n' "$path"
  curl -sf --max-time 5 -o "$state/introspection.json" "http://localhost:51678$path" || die "no answer from $path"
  python3 -m json.tool "$state/introspection.json" || die "$path: not JSON"
done
grep -q "\"$task\"" "$state/introspection.json" || die "/v1/tasks does not list $task"

if [ $keep = 1 ]; then
  trap - EXIT INT TERM
  exec 9>&-
  say "kept running (--keep)"
  cat <<EOF
ecs-local (pid $local_pid) and ecs-agent (pid $agent_pid) are running; the task too.
Their logs: $state/ecs-local.log, $state/ecs-agent.log. Drive them with the AWS CLI:
  . $state/ecs-local/env
  aws --endpoint-url "\$ECS_LOCAL_ENDPOINT" ecs describe-tasks --cluster $cluster --tasks $task
  aws --endpoint-url "\$ECS_LOCAL_ENDPOINT" ecs stop-task --cluster $cluster --task $task
  curl -s localhost:51678/v1/tasks
Stop everything:
  kill $agent_pid; kill $local_pid; iptables -D $guard_rule
  docker rm -f \$(docker ps -aq --filter label=com.amazonaws.ecs.cluster=$cluster); rm -rf $state
EOF
  exit 0
fi

say "5. stop the task"
ecs stop-task --cluster "$cluster" --task "$task" --reason "tools/demo.sh" --query 'task.desiredStatus' --output text
wait_status STOPPED
ecs describe-tasks --cluster "$cluster" --tasks "$task" \
  --query 'tasks[0].{lastStatus:lastStatus,stopCode:stopCode,stoppedReason:stoppedReason,containerStatus:containers[0].lastStatus,exitCode:containers[0].exitCode}'
show docker ps -a --filter "label=com.amazonaws.ecs.task-arn=$task" --format 'table {{.ID}}\t{{.Status}}\t{{.Names}}'
[ -z "$(docker ps -q --filter "label=com.amazonaws.ecs.task-arn=$task")" ] || die "the task's container still runs"

say "6. shut down"
kill -TERM "$agent_pid"
rc=0; wait "$agent_pid" || rc=$?
agent_pid=""
note "ecs-agent stopped (exit code $rc)"
[ $rc -eq 0 ] || die "ecs-agent exited $rc on SIGTERM"
kill -TERM "$local_pid"
rc=0; wait "$local_pid" || rc=$?
local_pid=""
note "ecs-local stopped (exit code $rc)"
[ $rc -eq 0 ] || die "ecs-local exited $rc on SIGTERM"
say "done: the agent registered, ran the task to RUNNING, stopped it to STOPPED, and shut down cleanly"

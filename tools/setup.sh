#!/bin/sh
# tools/setup.sh: make this Debian 12 machine ready to build, test and run ecs-agent. Idempotent.
#   - installs the packages that are missing (apt-get)
#   - mounts the cgroup controllers if nothing did
#   - starts dockerd if it is not answering
#   - builds the local test images (there is no Docker Hub here)
set -eu
cd "$(dirname "$0")/.."

log() { printf 'setup: %s\n' "$*"; }

PKGS="docker.io containernetworking-plugins busybox-static iptables iproute2 curl ca-certificates
meson ninja-build gcc clang pkg-config binutils libglib2.0-dev libsoup-3.0-dev libjson-glib-dev
libgnutls28-dev glib-networking gnutls-bin docker-registry apache2-utils awscli python3-botocore
libclang-rt-14-dev valgrind make"

missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  log "installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  aptlog=$(mktemp)
  # shellcheck disable=SC2086
  if ! { apt-get update -q && apt-get install -y -q --no-install-recommends $missing; } >"$aptlog" 2>&1; then
    log "apt-get failed:"; tail -30 "$aptlog"; rm -f "$aptlog"; exit 1
  fi
  rm -f "$aptlog"
fi

# cgroups: dockerd needs the controllers mounted (v1 here, v2 works too).
if ! grep -q ' /sys/fs/cgroup ' /proc/mounts; then
  log "mounting cgroup controllers"
  mount -t tmpfs -o uid=0,gid=0,mode=0755 cgroup /sys/fs/cgroup
fi
if [ ! -e /sys/fs/cgroup/cgroup.controllers ] && [ ! -d /sys/fs/cgroup/memory ]; then
  for sys in $(awk '!/^#/ { if ($4 == 1) print $1 }' /proc/cgroups); do
    mkdir -p "/sys/fs/cgroup/$sys"
    mountpoint -q "/sys/fs/cgroup/$sys" || mount -n -t cgroup -o "$sys" cgroup "/sys/fs/cgroup/$sys" || true
  done
fi

# The agent's fixed ports (introspection 51678, credentials 51679) lie in Linux's ephemeral range
# (32768-60999): any outgoing connection may get one as its local port, and then nothing can listen
# there (the agent, or a test that needs the real ports). Reserve them, keeping what is reserved.
reserved_file=/proc/sys/net/ipv4/ip_local_reserved_ports
if [ -w "$reserved_file" ] && ! grep -q '51678' "$reserved_file"; then
  reserved=$(cat "$reserved_file")
  echo "${reserved:+$reserved,}51678-51679" >"$reserved_file" || log "could not reserve ports 51678-51679"
fi

docker_ping() { curl -sf --max-time 2 --unix-socket /var/run/docker.sock http://docker/_ping 2>/dev/null | grep -q OK; }
if ! docker_ping; then
  log "starting dockerd (log: /var/log/ecsa-dockerd.log)"
  nohup dockerd >/var/log/ecsa-dockerd.log 2>&1 </dev/null &
  i=0
  until docker_ping; do
    i=$((i + 1))
    if [ $i -gt 150 ]; then
      log "dockerd did not answer in 30 s:"; tail -20 /var/log/ecsa-dockerd.log; exit 1
    fi
    sleep 0.2
  done
fi

tests/data/make-test-image.sh
log "ready"

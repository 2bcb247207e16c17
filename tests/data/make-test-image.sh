#!/bin/sh
# make-test-image.sh: build ecsa-test/busybox:latest from Debian's busybox-static, offline.
# The image has every busybox applet on PATH, /tmp, /etc/passwd and CMD ["sleep","3600"];
# `httpd`, `nc` and `ip` work inside it. Idempotent: does nothing when the image exists with the
# same busybox binary (the label carries its checksum).
set -eu
IMAGE=${ECSA_TEST_IMAGE:-ecsa-test/busybox:latest}
BUSYBOX=/bin/busybox
sum=$(sha256sum "$BUSYBOX" | cut -c1-16)
have=$(docker image inspect -f '{{ index .Config.Labels "ecsa.busybox" }}' "$IMAGE" 2>/dev/null || true)
[ "$have" = "$sum" ] && exit 0

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" "$root/tmp" "$root/etc" "$root/www" \
         "$root/proc" "$root/sys" "$root/dev" "$root/root" "$root/var/log"
cp "$BUSYBOX" "$root/bin/busybox"
for applet in $("$BUSYBOX" --list); do
  [ "$applet" = busybox ] && continue
  ln -sf /bin/busybox "$root/bin/$applet"
done
chmod 1777 "$root/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' >"$root/etc/group"
printf 'hosts: files\n' >"$root/etc/nsswitch.conf"
printf 'hello from ecs-agent\n' >"$root/www/index.html"
tar -C "$root" -cf "$tmp/rootfs.tar" .
docker import \
  -c 'CMD ["sleep","3600"]' \
  -c 'ENV PATH=/bin:/sbin:/usr/bin:/usr/sbin' \
  -c "LABEL ecsa.busybox=$sum" \
  "$tmp/rootfs.tar" "$IMAGE" >/dev/null
echo "make-test-image: built $IMAGE"

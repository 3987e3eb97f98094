#!/usr/bin/env bash
# Builds, as local Docker images, the test images upstream's NodeConformance tests ask for
# (`e2e.test --list-images`), from what this machine has: no image comes from a remote
# registry. Prints one line per image, "<upstream path>:<tag> <local image>", for the run
# (test/conformance/run.ts) to push into its test registry under the upstream path.
#
#   scripts/conformance/images.sh E2E_BIN_DIR
#
# What each one is (README, "Kubernetes NodeConformance"):
#   e2e-test-images/agnhost:2.63.0   agnhost built from test/images/agnhost of the same
#                                    module, on bosun's busybox (upstream: alpine), with the
#                                    user/group, /uploads, porter certificates and agnhost-2
#                                    link of upstream's Dockerfile, Debian's curl, and
#                                    Debian's bash-static as /bin/bash
#   e2e-test-images/agnhost:2.55     the same binary, a distinct image (the suite updates a
#                                    pod from one to the other)
#   e2e-test-images/busybox:1.37.0-1 localhost/bosun/busybox:1 (Debian's busybox-static)
#   e2e-test-images/nonroot:1.5      that busybox with USER 1234, as upstream's Dockerfile
#   e2e-test-images/nonewprivs:1.4   that busybox with nnp (test/images/nonewprivs) setuid
#   e2e-test-images/nginx:1.15-4     Debian's nginx (the .deb unpacked, never installed on
#                                    the host) with its shared libraries, serving port 80
#   e2e-test-images/glibc-dns-testing:2.0.0
#                                    Debian's hostname (glibc, NSS files/dns) on that busybox
#                                    (upstream: Debian with dnsutils); its specs run hostname -f
#   pause:3.10.2                     localhost/bosun/pause:3.10 (bosun's pause.c)
# Images are rebuilt when their inputs change (label io.bosun.build-inputs).
set -euo pipefail

bin="${1:?usage: images.sh E2E_BIN_DIR}"
for b in agnhost nnp; do [[ -x "$bin/$b" ]] || { echo "images.sh: $bin/$b missing (scripts/cluster/build-e2e.sh)" >&2; exit 1; }; done
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mod="$(cd "$here/../cluster/k8s" && GOFLAGS=-mod=mod go list -m -f '{{.Dir}}' k8s.io/kubernetes)"
BUSYBOX=localhost/bosun/busybox:1
PAUSE=localhost/bosun/pause:3.10
LABEL=io.bosun.build-inputs
for i in "$BUSYBOX" "$PAUSE"; do docker image inspect "$i" >/dev/null 2>&1 || { echo "images.sh: $i missing (scripts/setup-host.sh)" >&2; exit 1; }; done

work="$(mktemp -d /tmp/bosun-e2e-images.XXXXXX)"
trap 'rm -rf "$work"' EXIT

# with_libs BINARY ROOT: copies the shared libraries BINARY links (ldd) under ROOT, same paths.
with_libs() {
  local lib
  for lib in $(ldd "$1" | awk '/=> \// { print $3 } $1 ~ /^\// { print $1 }'); do
    mkdir -p "$2$(dirname "$lib")"
    cp -L "$lib" "$2$lib"
  done
}

# build NAME CONTEXT: builds CONTEXT/Dockerfile as NAME unless an image with the same inputs exists.
build() {
  local name=$1 ctx=$2 hash
  hash="$( (docker image inspect -f '{{.Id}}' "$BUSYBOX"; cd "$ctx" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-32)"
  if [[ "$(docker image inspect -f "{{ index .Config.Labels \"$LABEL\" }}" "$name" 2>/dev/null || true)" == "$hash" ]]; then return; fi
  local out
  out="$(DOCKER_BUILDKIT=0 docker build -q --network none --label "$LABEL=$hash" -t "$name" "$ctx" 2>&1)" || { echo "$out" >&2; echo "images.sh: docker build of $name failed" >&2; exit 1; }
}

# agnhost, as upstream's test/images/agnhost/Dockerfile lays it out.
# The network specs run curl in agnhost pods (upstream's image adds it from alpine): this
# host's Debian curl with its libraries.
mkdir -p "$work/agnhost/root/usr/bin"
cp /usr/bin/curl "$work/agnhost/root/usr/bin/curl"
with_libs /usr/bin/curl "$work/agnhost/root"
# Specs run `/bin/bash -c` in agnhost (container_probe.go's terminating-readiness pods; upstream's
# image has alpine's bash): Debian's bash-static (the .deb unpacked) as /bin/bash.
(cd "$work" && apt-get download -q bash-static >/dev/null 2>&1) || { echo "images.sh: apt-get download bash-static failed (apt-get update?)" >&2; exit 1; }
mkdir -p "$work/bash" "$work/agnhost/root/bin"
dpkg-deb -x "$work"/bash-static_*.deb "$work/bash"
cp "$work/bash/bin/bash-static" "$work/agnhost/root/bin/bash"
cp "$bin/agnhost" "$mod/test/images/agnhost/porter/localhost.crt" "$mod/test/images/agnhost/porter/localhost.key" "$work/agnhost/"
cat >"$work/agnhost/Dockerfile" <<DOCKERFILE
FROM $BUSYBOX
COPY root/ /
COPY agnhost localhost.crt localhost.key /
RUN ["/bin/sh", "-c", "set -e; mkdir /uploads; ln -s agnhost /agnhost-2; \
  echo 'user-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh' >>/etc/passwd; \
  echo 'user-defined-in-image:x:1000:' >>/etc/group; \
  echo 'group-defined-in-image:x:50000:user-defined-in-image' >>/etc/group; \
  mkdir -p /home/user-defined-in-image && chown 1000:1000 /home/user-defined-in-image"]
EXPOSE 80 8080 8081 9376 5000
ENTRYPOINT ["/agnhost"]
CMD ["pause"]
DOCKERFILE
build localhost/bosun/e2e/agnhost:2.63.0 "$work/agnhost"
mkdir -p "$work/agnhost-prev"
printf 'FROM localhost/bosun/e2e/agnhost:2.63.0\nLABEL io.bosun.e2e.stands-for=agnhost:2.55\n' >"$work/agnhost-prev/Dockerfile"
build localhost/bosun/e2e/agnhost:2.55 "$work/agnhost-prev"

mkdir -p "$work/nonroot"
printf 'FROM %s\nUSER 1234\n' "$BUSYBOX" >"$work/nonroot/Dockerfile"
build localhost/bosun/e2e/nonroot:1.5 "$work/nonroot"

mkdir -p "$work/nonewprivs"
cp "$bin/nnp" "$work/nonewprivs/nnp"
printf 'FROM %s\nCOPY nnp /usr/local/bin/nnp\nRUN ["chmod", "4755", "/usr/local/bin/nnp"]\nCMD ["nnp"]\n' "$BUSYBOX" >"$work/nonewprivs/Dockerfile"
build localhost/bosun/e2e/nonewprivs:1.4 "$work/nonewprivs"

# nginx: Debian's package unpacked (apt-get download keeps the host's nginx uninstalled),
# with the shared libraries it links from this host's Debian.
mkdir -p "$work/nginx/root"
(cd "$work" && apt-get download -q nginx >/dev/null 2>&1) || { echo "images.sh: apt-get download nginx failed (apt-get update?)" >&2; exit 1; }
dpkg-deb -x "$work"/nginx_*.deb "$work/nginx/root"
ngx="$work/nginx/root/usr/sbin/nginx"
with_libs "$ngx" "$work/nginx/root"
mkdir -p "$work/nginx/root/etc/nginx" "$work/nginx/root/usr/share/nginx/html" "$work/nginx/root/var/log/nginx" "$work/nginx/root/var/lib/nginx"
cat >"$work/nginx/root/etc/nginx/nginx.conf" <<'CONF'
daemon off;
user root;
worker_processes 1;
error_log /dev/stderr;
pid /tmp/nginx.pid;
events { worker_connections 64; }
http {
  access_log /dev/stdout;
  server {
    listen 80;
    root /usr/share/nginx/html;
  }
}
CONF
echo '<html><body>nginx (Debian package, bosun test image)</body></html>' >"$work/nginx/root/usr/share/nginx/html/index.html"
rm -rf "$work/nginx/root/usr/share/doc" "$work/nginx/root/usr/share/man"
printf 'FROM %s\nCOPY root/ /\nEXPOSE 80\nSTOPSIGNAL SIGQUIT\nCMD ["/usr/sbin/nginx"]\n' "$BUSYBOX" >"$work/nginx/Dockerfile"
build localhost/bosun/e2e/nginx:1.15-4 "$work/nginx"

# glibc-dns-testing: upstream's is Debian with glibc and dnsutils; the specs that use it run
# `hostname` and `hostname -f`. Here: Debian's hostname from this host, with glibc, its NSS
# modules and an nsswitch.conf, on busybox for the shell.
mkdir -p "$work/glibc/root/bin" "$work/glibc/root/etc"
cp /bin/hostname "$work/glibc/root/bin/hostname"
with_libs /bin/hostname "$work/glibc/root"
cp -L /lib/x86_64-linux-gnu/libnss_files.so.2 /lib/x86_64-linux-gnu/libnss_dns.so.2 "$work/glibc/root/lib/x86_64-linux-gnu/"
printf 'hosts: files dns\n' >"$work/glibc/root/etc/nsswitch.conf"
printf 'FROM %s\nCOPY root/ /\n' "$BUSYBOX" >"$work/glibc/Dockerfile"
build localhost/bosun/e2e/glibc-dns-testing:2.0.0 "$work/glibc"

echo "e2e-test-images/agnhost:2.63.0 localhost/bosun/e2e/agnhost:2.63.0"
echo "e2e-test-images/glibc-dns-testing:2.0.0 localhost/bosun/e2e/glibc-dns-testing:2.0.0"
echo "e2e-test-images/agnhost:2.55 localhost/bosun/e2e/agnhost:2.55"
echo "e2e-test-images/busybox:1.37.0-1 $BUSYBOX"
echo "e2e-test-images/nonroot:1.5 localhost/bosun/e2e/nonroot:1.5"
echo "e2e-test-images/nonewprivs:1.4 localhost/bosun/e2e/nonewprivs:1.4"
echo "e2e-test-images/nginx:1.15-4 localhost/bosun/e2e/nginx:1.15-4"
echo "pause:3.10.2 $PAUSE"

#!/bin/bash
# packaging/deb/build.sh BINARY OUTDIR - the Debian package (`make deb`),
# built with dpkg-deb from a staged tree, no network:
#   /usr/bin/amazon-ecs-agent                  BINARY (the static agent), stripped
#   /lib/systemd/system/amazon-ecs-agent.service  packaging/amazon-ecs-agent.service
#                                              with ExecStart=/usr/bin/amazon-ecs-agent,
#                                              running ecs-task-endpoints-net around it
#   /usr/sbin/ecs-task-endpoints-net           scripts/task-endpoints-net.sh (169.254.170.2)
#   /etc/ecs/ecs.config                        conffile (packaging/deb/ecs.config)
#   /usr/share/doc/amazon-ecs-agent/           copyright, changelog.gz, README.md.gz
#   /usr/share/man/man8/amazon-ecs-agent.8.gz, ecs-task-endpoints-net.8.gz
#   /usr/share/lintian/overrides/amazon-ecs-agent  the explained lintian overrides
# Maintainer scripts (packaging/deb/postinst, prerm, postrm): enable and start
# the unit (restart on upgrade), stop on removal, delete /var/lib/ecs,
# /var/log/ecs and /var/cache/ecs on purge.
# A native package (no Debian revision).  Version: VERSION, or DEB_VERSION when set (the upgrade test
# builds a second, newer package).  Prints the path of the .deb.
set -euo pipefail
cd "$(dirname "$0")/../.."

bin=${1:?usage: packaging/deb/build.sh BINARY OUTDIR}
out=${2:?usage: packaging/deb/build.sh BINARY OUTDIR}
die() { echo "deb: $*" >&2; exit 1; }
[ -x "$bin" ] || die "$bin is not an executable"
LC_ALL=C file "$bin" | grep -q 'statically linked' || die "$bin is not statically linked (the package ships the static agent)"
command -v dpkg-deb >/dev/null || die "dpkg-deb missing (apt-get install dpkg-dev)"

pkg=amazon-ecs-agent
version=${DEB_VERSION:-$(cat VERSION)}
arch=$(dpkg --print-architecture)
stage=$out/$pkg-stage
rm -rf "$stage"
mkdir -p "$stage/DEBIAN" "$stage/usr/bin" "$stage/usr/sbin" "$stage/lib/systemd/system" "$stage/etc/ecs" \
  "$stage/usr/share/doc/$pkg" "$stage/usr/share/man/man8" "$stage/usr/share/lintian/overrides"

install -m 0755 "$bin" "$stage/usr/bin/$pkg"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/usr/bin/$pkg"
# the 169.254.170.2 forwarding (as ecs-init sets it up) ships as
# /usr/sbin/ecs-task-endpoints-net, run by the unit around the agent
install -m 0755 scripts/task-endpoints-net.sh "$stage/usr/sbin/ecs-task-endpoints-net"
sed -e 's|^ExecStart=.*|ExecStart=/usr/bin/amazon-ecs-agent|' \
    -e '/^# Install:/,/^#           systemctl daemon-reload/d' \
    -e 's|/usr/local/sbin/ecs-task-endpoints-net|/usr/sbin/ecs-task-endpoints-net|' \
    packaging/amazon-ecs-agent.service >"$stage/lib/systemd/system/$pkg.service"
grep -q '^ExecStart=/usr/bin/amazon-ecs-agent$' "$stage/lib/systemd/system/$pkg.service" ||
  die "the unit's ExecStart was not rewritten"
grep -q '^ExecStartPre=-+/usr/sbin/ecs-task-endpoints-net setup$' "$stage/lib/systemd/system/$pkg.service" ||
  die "the unit's 169.254.170.2 setup was not rewritten"
chmod 0644 "$stage/lib/systemd/system/$pkg.service"
install -m 0644 packaging/deb/ecs.config "$stage/etc/ecs/ecs.config"
install -m 0644 packaging/deb/copyright "$stage/usr/share/doc/$pkg/copyright"
readme=README.md
gzip -9n <"$readme" >"$stage/usr/share/doc/$pkg/$readme.gz"
gzip -9n <packaging/deb/amazon-ecs-agent.8 >"$stage/usr/share/man/man8/$pkg.8.gz"
gzip -9n <packaging/deb/ecs-task-endpoints-net.8 >"$stage/usr/share/man/man8/ecs-task-endpoints-net.8.gz"
install -m 0644 packaging/deb/lintian-overrides "$stage/usr/share/lintian/overrides/$pkg"
{
  echo "$pkg ($version) unstable; urgency=medium"
  echo
  echo "  * Built from the source tree at $(git rev-parse --short HEAD 2>/dev/null || echo unknown)."
  echo
  echo " -- amazon-ecs-agent C maintainers <maintainers@amazon-ecs-agent-c.invalid>  $(date -R -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")"
} | gzip -9n >"$stage/usr/share/doc/$pkg/changelog.gz"
chmod 0644 "$stage"/usr/share/doc/$pkg/* "$stage"/usr/share/man/man8/*.8.gz

for s in postinst prerm postrm; do
  install -m 0755 "packaging/deb/$s" "$stage/DEBIAN/$s"
done
echo /etc/ecs/ecs.config >"$stage/DEBIAN/conffiles"
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f ! -path ./etc/ecs/ecs.config -printf '%P\0' |
  sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<EOF
Package: $pkg
Version: $version
Architecture: $arch
Maintainer: amazon-ecs-agent C maintainers <maintainers@amazon-ecs-agent-c.invalid>
Installed-Size: $size
Depends: init-system-helpers (>= 1.54~)
Recommends: docker.io | docker-ce, iptables
Section: admin
Priority: optional
Homepage: https://github.com/aws/amazon-ecs-agent
Description: Amazon ECS container agent (C implementation)
 Registers this host as a container instance of an Amazon ECS cluster,
 receives tasks over the ACS websocket, runs them on the local Docker engine
 and reports every state change.  A drop-in replacement for the upstream
 agent (environment variables, flags, exit codes, introspection on port
 51678, checkpoint) in a small static binary, run as a systemd service
 configured by /etc/ecs/ecs.config.  The service also forwards
 169.254.170.2 to the agent's task metadata and credentials server
 (ecs-task-endpoints-net), as ecs-init does.
EOF

deb=$out/${pkg}_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
rm -rf "$stage"
echo "$deb"

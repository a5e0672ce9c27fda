#!/bin/bash
# build-static.sh OUTDIR - a statically linked agent (`make static`), written
# to OUTDIR/amazon-ecs-agent-static and, as the seed's `make static` did, to
# OUTDIR/amazon-ecs-agent.  packaging/STATIC.md explains the choices.
#
# Debian's own static archives cannot make this binary:
#   - libwebsockets.a has no libuv event loop (Debian builds lws with
#     LWS_WITH_EVLIB_PLUGINS: the libuv glue exists only as the dlopen()ed
#     plugin libwebsockets-evlib_uv.so, which a static binary cannot load);
#   - libcurl.a is built with GSS-API (MIT krb5), LDAP (OpenLDAP + SASL),
#     RTMP (GnuTLS), SSH, PSL, nghttp2 and zstd, and Debian ships no static
#     archive for krb5, libldap/liblber, libsasl2, libp11-kit (needed by
#     libgnutls.a), librtmp, libssh2, libpsl, libnghttp2 or libzstd;
#   - libdbus-1.a (systemd's D-Bus API, src/systemd/) is built with systemd
#     socket activation: it needs sd_listen_fds/sd_is_socket from libsystemd,
#     of which Debian ships no static archive.
# So this script rebuilds exactly those three libraries from Debian's own
# source packages (`apt-get source`, with a private deb-src list and cache in
# OUTDIR/static - the system apt configuration is not touched), with the
# features the agent uses and nothing else, and links them with the static
# archives Debian does ship: libuv_a.a, libjansson.a, libssl.a, libcrypto.a,
# libz.a, libcap.a and glibc's libc.a.
# Needs: network access to the Debian archive named in /etc/apt (its deb-src
# twin, see scripts/apt-sources.sh), dpkg-dev, cmake, gcc, make, and
# libexpat1-dev (dbus' configure looks for it; the library does not use it).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

out=${1:-out}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$out/static
src=$work/src
prefix=$work/prefix
obj=$work/obj
jobs=$(nproc 2>/dev/null || echo 2)
mkdir -p "$src" "$prefix" "$obj"

say() { echo "build-static: $*"; }
die() { echo "build-static: FAILED: $*" >&2; exit 1; }

for tool in cmake dpkg-source gcc make pkg-config; do
  command -v "$tool" >/dev/null || die "$tool is missing (apt-get install cmake dpkg-dev build-essential pkg-config)"
done
for a in libuv_a.a libjansson.a libssl.a libcrypto.a libz.a libcap.a; do
  ls /usr/lib/*/"$a" >/dev/null 2>&1 || die "/usr/lib/<arch>/$a missing (apt-get install libuv1-dev libjansson-dev libssl-dev zlib1g-dev libcap-dev)"
done
[ -f /usr/include/expat.h ] || die "expat.h missing (apt-get install libexpat1-dev: dbus' configure needs it)"
[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || ls /usr/lib/*/libc.a >/dev/null 2>&1 || die "libc.a missing (apt-get install libc6-dev)"

# --- 1. Debian source packages (same versions as the installed -dev packages when available)
apt_dir=$work/apt
APT=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=$apt_dir/parts"
     -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o "APT::Sandbox::User=root")
fetch_sources() {
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/parts"
  # the archive this machine's apt configuration names (no host written here)
  scripts/apt-sources.sh --deb-src >"$apt_dir/sources.list" ||
    die "no Debian source to fetch libwebsockets and curl from (see scripts/apt-sources.sh)"
  apt-get "${APT[@]}" -qq update || die "apt-get update of the private deb-src list failed (network?)"
  (cd "$src" && apt-get "${APT[@]}" -qq source "$@") || die "apt-get source $* failed"
}
lws_dir=$(ls -d "$src"/libwebsockets-*/ 2>/dev/null | head -1 || true)
curl_dir=$(ls -d "$src"/curl-*/ 2>/dev/null | head -1 || true)
dbus_dir=$(ls -d "$src"/dbus-*/ 2>/dev/null | head -1 || true)
if [ -z "$lws_dir" ] || [ -z "$curl_dir" ] || [ -z "$dbus_dir" ]; then
  want=()
  [ -n "$lws_dir" ] || want+=(libwebsockets)
  [ -n "$curl_dir" ] || want+=(curl)
  [ -n "$dbus_dir" ] || want+=(dbus)
  say "fetching Debian sources of ${want[*]}"
  fetch_sources "${want[@]}"
  lws_dir=$(ls -d "$src"/libwebsockets-*/ | head -1)
  curl_dir=$(ls -d "$src"/curl-*/ | head -1)
  dbus_dir=$(ls -d "$src"/dbus-*/ | head -1)
fi
say "sources: $(basename "$lws_dir") $(basename "$curl_dir") $(basename "$dbus_dir")"

# --- 2. libwebsockets: static, libuv event loop built in (no evlib plugins)
if [ ! -f "$prefix/lib/libwebsockets.a" ]; then
  say "building libwebsockets (static, LWS_WITH_LIBUV, no plugins)"
  rm -rf "$work/lws-build"
  mkdir -p "$work/lws-build"
  (cd "$work/lws-build" &&
    cmake "$lws_dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
      -DCMAKE_C_FLAGS="-O2 -fno-strict-aliasing -Wno-deprecated-declarations" -DDISABLE_WERROR=ON \
      -DLIB_SUFFIX= \
      -DLWS_WITH_STATIC=ON -DLWS_WITH_SHARED=OFF \
      -DLWS_WITH_LIBUV=ON -DLWS_WITH_EVLIB_PLUGINS=OFF -DLWS_WITH_PLUGINS=OFF \
      -DLWS_WITH_LIBEV=OFF -DLWS_WITH_GLIB=OFF -DLWS_WITH_LIBEVENT=OFF \
      -DLWS_WITH_SSL=ON -DLWS_WITH_HTTP2=ON -DLWS_IPV6=ON -DLWS_UNIX_SOCK=ON \
      -DLWS_WITH_ZLIB=OFF -DLWS_WITHOUT_EXTENSIONS=ON -DLWS_WITH_LWSWS=OFF \
      -DLWS_WITHOUT_TESTAPPS=ON -DLWS_WITHOUT_TEST_SERVER=ON -DLWS_WITHOUT_TEST_CLIENT=ON \
      -DLWS_WITH_MINIMAL_EXAMPLES=OFF \
      -DLWS_LIBUV_INCLUDE_DIRS=/usr/include -DLWS_LIBUV_LIBRARIES=/usr/lib/x86_64-linux-gnu/libuv_a.a \
      >"$work/lws-cmake.log" 2>&1 &&
    make -j"$jobs" >"$work/lws-make.log" 2>&1 && make install >>"$work/lws-make.log" 2>&1) ||
    { tail -n 30 "$work"/lws-*.log; die "libwebsockets build failed (logs in $work)"; }
fi

# --- 3. curl: static, OpenSSL + zlib + threaded resolver + unix sockets only.
# Debian's patches are applied (CVE fixes); its build-system patches are
# undone (they need autoreconf and only matter for the Debian flavours).
if [ ! -f "$prefix/lib/libcurl.a" ]; then
  say "building libcurl (static, OpenSSL, no krb5/LDAP/RTMP/SSH/PSL/IDN/nghttp2/zstd/brotli)"
  orig=$(ls "$src"/curl_*.orig.tar.* | head -1)
  rm -rf "$work/curl-build" "$work/curl-orig"
  mkdir -p "$work/curl-orig"
  tar -xf "$orig" -C "$work/curl-orig" --strip-components=1
  cp -a "$curl_dir" "$work/curl-build"
  (cd "$work/curl-orig" && find . \( -name configure.ac -o -name configure -o -name 'Makefile.am' \
      -o -name 'Makefile.in' -o -name 'Makefile.inc' -o -name '*.m4' -o -name 'libcurl.vers.in' \) -print0 |
      xargs -0 -I{} cp -p {} "$work/curl-build/{}")
  # one timestamp for everything: make must not try to re-run autotools
  find "$work/curl-build" -exec touch -h -d '2023-02-20 00:00:00' {} +
  (cd "$work/curl-build" &&
    ./configure --prefix="$prefix" --libdir="$prefix/lib" --disable-shared --enable-static \
      --disable-dependency-tracking --with-openssl --with-zlib \
      --enable-threaded-resolver --enable-ipv6 --enable-unix-sockets \
      --with-ca-bundle=/etc/ssl/certs/ca-certificates.crt --with-ca-path=/etc/ssl/certs \
      --without-gssapi --disable-ldap --disable-ldaps --without-librtmp --without-libssh2 \
      --without-libssh --without-libpsl --without-libidn2 --without-nghttp2 --without-nghttp3 \
      --without-ngtcp2 --without-zstd --without-brotli --without-libgsasl --disable-manual \
      --disable-dict --disable-telnet --disable-tftp --disable-pop3 --disable-imap --disable-smb \
      --disable-smtp --disable-gopher --disable-mqtt --disable-rtsp --disable-ftp --disable-file \
      --disable-ntlm --disable-ntlm-wb --disable-netrc \
      >"$work/curl-configure.log" 2>&1 &&
    make -j"$jobs" -C lib >"$work/curl-make.log" 2>&1 &&
    make -C lib install >>"$work/curl-make.log" 2>&1 &&
    make -C include install >>"$work/curl-make.log" 2>&1 &&
    make install-pkgconfigDATA >>"$work/curl-make.log" 2>&1) ||
    { tail -n 30 "$work"/curl-*.log; die "curl build failed (logs in $work)"; }
fi

# --- 4. libdbus-1: static, without systemd (socket activation is for servers;
# the agent is a client), SELinux, AppArmor, audit, X11 or tests
if [ ! -f "$prefix/lib/libdbus-1.a" ]; then
  say "building libdbus-1 (static, no systemd/SELinux/AppArmor/audit/X11)"
  rm -rf "$work/dbus-build"
  cp -a "$dbus_dir" "$work/dbus-build"
  (cd "$work/dbus-build" &&
    ./configure --prefix="$prefix" --libdir="$prefix/lib" --disable-shared --enable-static \
      --disable-dependency-tracking --disable-systemd --disable-selinux --disable-apparmor \
      --disable-libaudit --without-x --disable-tests --disable-modular-tests --disable-installed-tests \
      --disable-embedded-tests --disable-asserts --disable-user-session --disable-doxygen-docs \
      --disable-xml-docs --disable-ducktype-docs \
      >"$work/dbus-configure.log" 2>&1 &&
    make -j"$jobs" -C dbus libdbus-1.la >"$work/dbus-make.log" 2>&1 &&
    make -C dbus install-libLTLIBRARIES install-dbusincludeHEADERS install-nodist_dbusarchincludeHEADERS \
      >>"$work/dbus-make.log" 2>&1 &&
    make install-pkgconfigDATA >>"$work/dbus-make.log" 2>&1) ||
    { tail -n 30 "$work"/dbus-*.log; die "libdbus-1 build failed (logs in $work)"; }
fi
nm "$prefix/lib/libdbus-1.a" 2>/dev/null | grep -q ' U sd_' && die "libdbus-1.a still needs libsystemd"

# --- 5. the agent, compiled against these headers, linked -static
say "compiling the agent against the static libraries"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
# objects must see the lws_config.h of the library they link with (and
# dbus-1.pc's -DDBUS_STATIC_BUILD)
make -s -j"$jobs" O="$obj" PKG_CONFIG_PATH="$PKG_CONFIG_PATH" "$obj/obj/src/main.o" "$obj/libagent.a"
bin=$out/amazon-ecs-agent-static
gcc -static -o "$bin" "$obj/obj/src/main.o" "$obj/libagent.a" \
  "$prefix/lib/libwebsockets.a" "$prefix/lib/libcurl.a" "$prefix/lib/libdbus-1.a" \
  -Wl,-Bstatic -luv_a -ljansson -lssl -lcrypto -lz -lcap -lm -lpthread -ldl -lrt \
  2>"$work/link.log" || { cat "$work/link.log"; die "static link failed"; }
grep -v 'statically linked applications requires at runtime' "$work/link.log" | grep -v 'in function' >&2 || true

file "$bin" | grep -q 'statically linked' || die "$(file "$bin")"
cp "$bin" "$out/amazon-ecs-agent"
say "$(file -b "$bin" | cut -d, -f1-5)"
say "wrote $bin ($(stat -c %s "$bin") bytes) and $out/amazon-ecs-agent"
say "note: glibc warns that getaddrinfo/getpwnam in a static binary use NSS at run time;"
say "      glibc >= 2.34 has the files and dns backends built in, which is all the agent needs"

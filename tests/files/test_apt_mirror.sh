#!/bin/sh
# tools/apt-mirror against sample apt configurations (one-line sources.list,
# sources.list.d/*.list, deb822 *.sources, third-party and disabled entries, a
# machine with no Debian archive), the environment overrides, and the rule that
# the scripts that fetch packages name no mirror host themselves.
#   test_apt_mirror.sh TOOLS_DIR
set -u
tools=$1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/apt-mirror-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
status=0
unset DEBIAN_MIRROR DEBIAN_SECURITY_MIRROR

# expect NAME KIND WANT: apt-mirror in $tmp/NAME prints WANT ("FAIL": exits 1
# with a message naming the variable to set).
expect() {
    out=$("$tools/apt-mirror" --root "$tmp/$1" "$2" 2>"$tmp/err")
    rc=$?
    if [ "$3" = FAIL ]; then
        if [ "$rc" != 1 ] || ! grep -q "DEBIAN_.*MIRROR" "$tmp/err"; then
            echo "FAIL: $1 $2: wanted a refusal naming the variable, got rc $rc: $out $(cat "$tmp/err")"
            status=1
        fi
    elif [ "$rc" != 0 ] || [ "$out" != "$3" ]; then
        echo "FAIL: $1 $2: wanted $3, got rc $rc: '$out' $(cat "$tmp/err")"
        status=1
    fi
}
conf() {  # NAME FILE: stdin becomes $tmp/NAME/etc/apt/FILE
    mkdir -p "$(dirname "$tmp/$1/etc/apt/$2")"
    cat >"$tmp/$1/etc/apt/$2"
}

# One-line format: options, deb-src, comments, a third party before Debian.
conf oneline sources.list <<'X'
# a comment
deb-src http://src.example.test/debian bookworm main
deb [arch=amd64 signed-by=/k.gpg] https://cloud.example.test/apt cloud-sdk-bookworm main
deb http://mirror.example.test/debian/ bookworm main contrib  # trailing comment
deb http://mirror.example.test/debian bookworm-updates main
deb http://security.example.test/debian-security bookworm-security main
X
expect oneline archive http://mirror.example.test/debian
expect oneline security http://security.example.test/debian-security

# deb822, as Debian 12 installs it, with a disabled stanza and a third party.
conf deb822 sources.list.d/aa-disabled.sources <<'X'
Types: deb
URIs: http://old.example.test/debian
Suites: bookworm
Components: main
Enabled: no
X
conf deb822 sources.list.d/debian.sources <<'X'
Types: deb deb-src
# a comment inside a stanza
URIs: http://proxy.example.test:3142/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://proxy.example.test:3142/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
X
conf deb822 sources.list.d/nodesource.sources <<'X'
Types: deb
URIs: https://node.example.test/node_20.x
Suites: nodistro
Components: main
X
expect deb822 archive http://proxy.example.test:3142/debian
expect deb822 security http://proxy.example.test:3142/debian-security

# A .list in sources.list.d, and a source with no main component.
conf listd sources.list.d/mirror.list <<'X'
deb http://nonfree.example.test/debian trixie non-free
deb file:/srv/mirror/debian trixie main
X
expect listd archive file:/srv/mirror/debian
expect listd security FAIL

# Ubuntu's archive is not Debian's; nothing at all is refused the same way.
conf ubuntu sources.list <<'X'
deb http://archive.example.test/ubuntu noble main universe
deb http://archive.example.test/ubuntu noble-security main
X
expect ubuntu archive FAIL
mkdir -p "$tmp/empty"
expect empty archive FAIL

# The environment wins over apt.
out=$(DEBIAN_MIRROR=http://override.example.test/d/ "$tools/apt-mirror" --root "$tmp/oneline" archive)
[ "$out" = http://override.example.test/d ] || { echo "FAIL: DEBIAN_MIRROR ignored: $out"; status=1; }
out=$(DEBIAN_SECURITY_MIRROR=http://s.example.test "$tools/apt-mirror" --root "$tmp/empty" security)
[ "$out" = http://s.example.test ] || { echo "FAIL: DEBIAN_SECURITY_MIRROR ignored: $out"; status=1; }

# The scripts that fetch packages carry no host of their own.
for script in fetch-unicorn build-guest setup; do
    if grep -nE '[a-z][a-z0-9+.-]*://' "$tools/$script"; then
        echo "FAIL: tools/$script names a host (above); take it from tools/apt-mirror"
        status=1
    fi
done

[ "$status" = 0 ] && echo "apt-mirror: all cases as expected"
exit "$status"

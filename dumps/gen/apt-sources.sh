#!/usr/bin/env bash
# Adds the apt sources the dump generator needs, derived from the machine's own Debian mirror:
#   - bookworm-backports (binary): qemu-system-x86 10.x and the 6.12 kernel packages;
#   - trixie (source only): crash 8.0.6+ and a newer makedumpfile, built locally.
# Idempotent; runs `apt-get update` only when it added something (or when asked with --update).
# --print-mirror prints the mirror and changes nothing (chroot.sh uses it).
set -euo pipefail

mirror() {
    # The first Debian archive URI the machine already uses (deb822 or one-line format).
    local uri=""
    if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
        uri=$(awk '/^URIs:/ {for (i = 2; i <= NF; i++) if ($i !~ /security/) {print $i; exit}}' \
            /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
    fi
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
        uri=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) {print $i; exit}}' \
            /etc/apt/sources.list | head -n1)
    fi
    [ -n "$uri" ] || { echo "apt-sources: cannot find the machine's Debian mirror in /etc/apt" >&2; exit 1; }
    echo "$uri"
}

if [ "${1:-}" = "--print-mirror" ]; then # for chroot.sh: the mirror, nothing added
    mirror
    exit 0
fi
changed=0
[ "${1:-}" = "--update" ] && changed=1
m=$(mirror)
key=/usr/share/keyrings/debian-archive-keyring.gpg

add() { # file, content
    if [ ! -f "$1" ]; then
        printf '%s\n' "$2" >"$1"
        changed=1
    fi
}
add /etc/apt/sources.list.d/holdup-bookworm-backports.sources "Types: deb
URIs: $m
Suites: bookworm-backports
Components: main
Signed-By: $key"
add /etc/apt/sources.list.d/holdup-trixie-src.sources "Types: deb-src
URIs: $m
Suites: trixie
Components: main
Signed-By: $key"

if [ "$changed" = 1 ]; then
    apt-get -o DPkg::Lock::Timeout=900 update -qq
fi

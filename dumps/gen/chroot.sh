#!/usr/bin/env bash
# Usage: chroot.sh KERNEL          (a kernel whose chroot_dir is not empty: 5.10, 7.3)
#        chroot.sh makedumpfile    (only the sid chroot with sid's makedumpfile: for 6.12-rt)
# For a kernel the host cannot build modules for (5.10: bullseye's gcc-10 and kbuild; 7.3:
# experimental's, gcc-16 and libc6 >= 2.38), provides a debootstrapped chroot of its suite
# (kernel_suite; experimental: sid with experimental added, its packages taken from there) at
# chroot_dir KERNEL, from the machine's own Debian mirror (apt-sources.sh --print-mirror), with:
#   - linux-headers-<release> installed in it (and so gcc-10, make and the kbuild tools);
#   - gcc and libc6-dev (bench, static);
#   - the image (and kernel_more_packages) and -dbg packages of the kernel downloaded by its apt
#     into $CACHE_DIR (the host's apt does not know the suite; kernel.sh and vmlinux.sh unpack
#     them from there);
#   - for 7.3 also sid's makedumpfile (1.7.8: bookworm's 1.7.2 does not know 7.x), run through
#     the chroot's loader by formats.sh.
# /proc is mounted in the chroot only while a command runs (chroot_run). Idempotent.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

KERNEL=${1:?usage: chroot.sh KERNEL|makedumpfile}
if [ "$KERNEL" = makedumpfile ]; then
    # Only sid's makedumpfile and its wrapper (common.sh kernel_makedumpfile: 6.12-rt), in the
    # chroot 7.3 builds in; no kernel packages.
    root=$(chroot_dir 7.3)
    suite=sid
    rel=
else
    root=$(chroot_dir "$KERNEL")
    [ -n "$root" ] || { echo "chroot.sh: kernel $KERNEL is built on the host" >&2; exit 1; }
    suite=$(kernel_suite "$KERNEL")
    rel=$(kernel_release "$KERNEL")
fi
mirror=$(bash "$GEN_DIR/apt-sources.sh" --print-mirror)
base=$suite
target=()
[ "$suite" = experimental ] && { base=sid; target=(-t experimental); }

if [ ! -x "$root/usr/bin/apt-get" ] || [ ! -f "$root/.holdup-debootstrapped" ]; then
    command -v debootstrap >/dev/null ||
        DEBIAN_FRONTEND=noninteractive apt_get install -y -q --no-install-recommends debootstrap
    echo "chroot.sh: debootstrap $base into $root"
    rm -rf "$root"
    mkdir -p "$root"
    debootstrap --variant=minbase "$base" "$root" "$mirror" >"$root.debootstrap.log" 2>&1 ||
        { tail -n 20 "$root.debootstrap.log"; echo "chroot.sh: debootstrap failed" >&2; exit 1; }
    # sid's and experimental's Release files may be past their Valid-Until on a mirror snapshot.
    echo 'Acquire::Check-Valid-Until "false";' >"$root/etc/apt/apt.conf.d/99holdup-no-valid-until"
    touch "$root/.holdup-debootstrapped"
fi
if [ "$suite" = experimental ] && [ ! -f "$root/etc/apt/sources.list.d/experimental.list" ]; then
    echo "deb $mirror experimental main" >"$root/etc/apt/sources.list.d/experimental.list"
fi

chroot_run() { # command... : run in the chroot with /proc mounted (objtool wants it)
    mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
    local rc=0
    chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C \
        DEBIAN_FRONTEND=noninteractive "$@" || rc=$?
    umount "$root/proc" 2>/dev/null || true
    return $rc
}

if [ -z "$rel" ]; then
    if [ ! -x "$root/usr/bin/makedumpfile" ]; then
        echo "chroot.sh: installing makedumpfile in the chroot"
        chroot_run apt-get -q update >/dev/null
        chroot_run apt-get install -y -q --no-install-recommends makedumpfile \
            >"$root.install.log" 2>&1 || { tail -n 20 "$root.install.log"; exit 1; }
    fi
elif ! chroot_run dpkg-query -W -f='${Status}' "linux-headers-$rel" 2>/dev/null | grep -q 'install ok installed' ||
    ! chroot_run sh -c 'command -v gcc && command -v make' >/dev/null ||
    { [ "$suite" = experimental ] && [ ! -x "$root/usr/bin/makedumpfile" ]; }; then
    echo "chroot.sh: installing linux-headers-$rel, gcc, make in the chroot"
    chroot_run apt-get -q update >/dev/null
    extra=()
    [ "$suite" = experimental ] && extra=(makedumpfile)
    chroot_run apt-get install -y -q --no-install-recommends ${target[@]+"${target[@]}"} \
        "linux-headers-$rel" gcc make libc6-dev ${extra[@]+"${extra[@]}"} \
        >"$root.install.log" 2>&1 || { tail -n 20 "$root.install.log"; exit 1; }
fi

mkdir -p "$CACHE_DIR"
pkgs=()
[ -z "$rel" ] || pkgs=("$(kernel_image_package "$KERNEL")" $(kernel_more_packages "$KERNEL") "$(kernel_dbg_package "$KERNEL")")
for pkg in ${pkgs[@]+"${pkgs[@]}"}; do
    if ls "$CACHE_DIR/${pkg}"_*.deb >/dev/null 2>&1; then continue; fi
    echo "chroot.sh: downloading $pkg with the chroot's apt"
    rm -rf "$root/tmp/dl" && mkdir -p "$root/tmp/dl"
    chroot_run sh -c "cd /tmp/dl && apt-get download -q ${target[*]} $pkg" >/dev/null
    mv "$root"/tmp/dl/"${pkg}"_*.deb "$CACHE_DIR/"
done
if [ -x "$root/usr/bin/makedumpfile" ]; then
    # The chroot's makedumpfile, run on the host's files through the chroot's own loader and
    # libraries (formats.sh kernel_makedumpfile).
    mkdir -p "$TOOLS_DIR/bin"
    w=$TOOLS_DIR/bin/makedumpfile-$base
    printf '#!/bin/sh\n# %s: makedumpfile of the chroot %s (chroot.sh)\nr=%s\nexec "$r/lib64/ld-linux-x86-64.so.2" --library-path "$r/usr/lib/x86_64-linux-gnu:$r/lib/x86_64-linux-gnu" "$r/usr/bin/makedumpfile" "$@"\n' \
        "$(basename "$w")" "$root" "$root" >"$w"
    chmod 755 "$w"
    echo "chroot.sh: $w: $("$w" -v 2>&1 | head -n1)"
fi
[ -z "$rel" ] || echo "chroot.sh: $root ($suite): $(chroot_run gcc --version | head -n1); headers $rel"

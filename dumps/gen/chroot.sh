#!/usr/bin/env bash
# Usage: chroot.sh KERNEL          (a kernel whose chroot_dir is not empty: 5.10)
# For a kernel the host cannot build modules for (5.10: bullseye's gcc-10 and kbuild), provides
# a debootstrapped chroot of its suite (kernel_suite) at chroot_dir KERNEL, from the machine's
# own Debian mirror (apt-sources.sh --print-mirror), with:
#   - linux-headers-<release> installed in it (and so gcc-10, make and the kbuild tools);
#   - gcc and libc6-dev (bench, static);
#   - the image and -dbg packages of the kernel downloaded by its apt into $CACHE_DIR (the host's
#     apt does not know the suite; kernel.sh and vmlinux.sh unpack them from there).
# /proc is mounted in the chroot only while a command runs (chroot_run). Idempotent.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

KERNEL=${1:?usage: chroot.sh KERNEL}
root=$(chroot_dir "$KERNEL")
[ -n "$root" ] || { echo "chroot.sh: kernel $KERNEL is built on the host" >&2; exit 1; }
suite=$(kernel_suite "$KERNEL")
rel=$(kernel_release "$KERNEL")

if [ ! -x "$root/usr/bin/apt-get" ] || [ ! -f "$root/.holdup-debootstrapped" ]; then
    command -v debootstrap >/dev/null ||
        DEBIAN_FRONTEND=noninteractive apt_get install -y -q --no-install-recommends debootstrap
    mirror=$(bash "$GEN_DIR/apt-sources.sh" --print-mirror)
    echo "chroot.sh: debootstrap $suite into $root"
    rm -rf "$root"
    mkdir -p "$root"
    debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$root.debootstrap.log" 2>&1 ||
        { tail -n 20 "$root.debootstrap.log"; echo "chroot.sh: debootstrap failed" >&2; exit 1; }
    touch "$root/.holdup-debootstrapped"
fi

chroot_run() { # command... : run in the chroot with /proc mounted (objtool wants it)
    mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
    local rc=0
    chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C \
        DEBIAN_FRONTEND=noninteractive "$@" || rc=$?
    umount "$root/proc" 2>/dev/null || true
    return $rc
}

if ! chroot_run dpkg-query -W -f='${Status}' "linux-headers-$rel" 2>/dev/null | grep -q 'install ok installed' ||
    ! chroot_run sh -c 'command -v gcc && command -v make' >/dev/null; then
    echo "chroot.sh: installing linux-headers-$rel, gcc, make in the chroot"
    chroot_run apt-get -q update >/dev/null
    chroot_run apt-get install -y -q --no-install-recommends "linux-headers-$rel" gcc make libc6-dev \
        >"$root.install.log" 2>&1 || { tail -n 20 "$root.install.log"; exit 1; }
fi

mkdir -p "$CACHE_DIR"
for pkg in "$(kernel_image_package "$KERNEL")" "$(kernel_dbg_package "$KERNEL")"; do
    if ls "$CACHE_DIR/${pkg}"_*.deb >/dev/null 2>&1; then continue; fi
    echo "chroot.sh: downloading $pkg with the chroot's apt"
    rm -rf "$root/tmp/dl" && mkdir -p "$root/tmp/dl"
    chroot_run sh -c "cd /tmp/dl && apt-get download -q $pkg" >/dev/null
    mv "$root"/tmp/dl/"${pkg}"_*.deb "$CACHE_DIR/"
done
echo "chroot.sh: $root ($suite): $(chroot_run gcc --version | head -n1); headers $rel"

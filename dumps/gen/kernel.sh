#!/usr/bin/env bash
# Usage: kernel.sh KERNEL        (KERNEL = 6.1 | 6.12 | 6.12-rt | 5.10 | 7.3)
# Provides what the guest runs and what the hang module builds against:
#   - $WORK_DIR/kernels/<release>/{boot,lib}: the Debian image package unpacked (never installed;
#     7.x: linux-binary, linux-modules and linux-base, with boot/ and lib/ as links into usr/);
#   - linux-headers-<release> installed on the host (/lib/modules/<release>/build), or for a
#     kernel with a chroot_dir (5.10) in that chroot (chroot.sh, which also downloads the image);
#   - host tools: qemu-system-x86 (bookworm-backports), busybox-static, kexec-tools, kmod
#     (modinfo), cpio; for the 6.1-stock guest also dmsetup and e2fsprogs (their binaries and
#     libraries go into its initramfs).
# Idempotent, and fast once done.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

KERNEL=${1:?usage: kernel.sh 6.1|6.12|6.12-rt|5.10|7.3}
rel=$(kernel_release "$KERNEL")
pkg=$(kernel_image_package "$KERNEL")
out=$WORK_DIR/kernels/$rel

"$GEN_DIR/apt-sources.sh"

# apt -t for packages that only bookworm-backports has in the wanted version.
suite_opts=()
[ "$(kernel_suite "$KERNEL")" = bookworm-backports ] && suite_opts=(-t bookworm-backports)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed'; }

need=()
installed qemu-system-x86 || need+=(qemu-system-x86)
installed busybox-static || need+=(busybox-static)
installed kexec-tools || need+=(kexec-tools)
installed kmod || need+=(kmod)
installed cpio || need+=(cpio)
installed dmsetup || need+=(dmsetup)
installed e2fsprogs || need+=(e2fsprogs)
if [ ${#need[@]} -gt 0 ]; then
    echo "kernel.sh: installing ${need[*]}"
    # qemu-system-x86 must come from backports: the host's qemu-utils 10.x breaks bookworm's
    # qemu-system-common 7.2. kexec-tools asks debconf whether to load kexec at boot: no.
    DEBIAN_FRONTEND=noninteractive apt_get install -y -q -t bookworm-backports \
        --no-install-recommends "${need[@]}"
fi

croot=$(chroot_dir "$KERNEL")
if [ -n "$croot" ]; then
    # A kernel of a suite the host's apt does not know (5.10: bullseye): headers and gcc in a
    # chroot of that suite, the image package downloaded by the chroot's apt into $CACHE_DIR.
    bash "$GEN_DIR/chroot.sh" "$KERNEL"
elif [ ! -e "/lib/modules/$rel/build/Makefile" ] || ! installed "linux-headers-$rel"; then
    echo "kernel.sh: installing linux-headers-$rel"
    DEBIAN_FRONTEND=noninteractive apt_get install -y -q ${suite_opts[@]+"${suite_opts[@]}"} \
        --no-install-recommends "linux-headers-$rel"
fi

if [ -s "$out/boot/vmlinuz-$rel" ] && [ -d "$out/lib/modules/$rel/kernel" ] && [ -f "$out/.unpacked" ]; then
    echo "kernel.sh: $out already unpacked"
else
    mkdir -p "$CACHE_DIR" "$out"
    : >"$out/.unpacked.tmp"
    for p in "$pkg" $(kernel_more_packages "$KERNEL"); do
        deb=$(ls "$CACHE_DIR"/"${p}"_*.deb 2>/dev/null | head -n1 || true)
        if [ -z "$deb" ] || ! dpkg-deb --info "$deb" >/dev/null 2>&1; then
            rm -f "$CACHE_DIR"/"${p}"_*.deb
            echo "kernel.sh: downloading $p"
            (cd "$CACHE_DIR" && apt_get download -q ${suite_opts[@]+"${suite_opts[@]}"} "$p")
            deb=$(ls "$CACHE_DIR"/"${p}"_*.deb | head -n1)
        fi
        echo "kernel.sh: unpacking $(basename "$deb") into $out"
        # The directory may already hold the vmlinux from vmlinux.sh: only add boot/ and lib/.
        dpkg-deb -x "$deb" "$out"
        basename "$deb" >>"$out/.unpacked.tmp"
    done
    # 7.x puts everything under usr/lib/modules/<release>/ (vmlinuz, config, System.map, the
    # modules): the paths of the older packages, as links.
    # (linux-binary-unsigned-* names it vmlinuz.unsigned.)
    m=$out/usr/lib/modules/$rel
    if [ -d "$m" ] && [ ! -e "$out/boot/vmlinuz-$rel" ]; then
        mkdir -p "$out/boot" "$out/lib/modules"
        for f in vmlinuz.unsigned:vmlinuz vmlinuz:vmlinuz config:config System.map:System.map; do
            [ -e "$m/${f%%:*}" ] && ln -sfn "../usr/lib/modules/$rel/${f%%:*}" "$out/boot/${f#*:}-$rel"
        done
        ln -sfn "../../usr/lib/modules/$rel" "$out/lib/modules/$rel"
    fi
    mv "$out/.unpacked.tmp" "$out/.unpacked"
fi
ls -l "$out/boot/vmlinuz-$rel"
if [ -n "$croot" ]; then
    echo "kernel.sh: headers in the chroot $croot: $(chroot "$croot" readlink -f "/lib/modules/$rel/build")"
else
    echo "kernel.sh: headers at $(readlink -f "/lib/modules/$rel/build")"
fi

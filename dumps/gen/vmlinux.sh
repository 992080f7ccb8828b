#!/usr/bin/env bash
# Usage: vmlinux.sh KERNEL        (KERNEL = 6.1 | 6.12)
# Provides $WORK_DIR/kernels/<release>/vmlinux (with DWARF) from Debian's -dbg package.
# Downloads the .deb (~1 GB) into $CACHE_DIR, extracts only the vmlinux, and deletes the .deb
# afterwards when the disk has less than KEEP_DEB_MIN_GB (default 40) GB free. Idempotent.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

KERNEL=${1:?usage: vmlinux.sh 6.1|6.12}
rel=$(kernel_release "$KERNEL")
pkg=$(kernel_dbg_package "$KERNEL")
out=$WORK_DIR/kernels/$rel
vmlinux=$out/vmlinux

if [ -s "$vmlinux" ] && file -L "$vmlinux" | grep -q 'with debug_info'; then
    echo "vmlinux.sh: $vmlinux already there"
    exit 0
fi

"$GEN_DIR/apt-sources.sh"
mkdir -p "$CACHE_DIR" "$out"

deb=$(ls "$CACHE_DIR"/"${pkg}"_*.deb 2>/dev/null | head -n1 || true)
if [ -z "$deb" ] || ! dpkg-deb --info "$deb" >/dev/null 2>&1; then
    rm -f "$CACHE_DIR"/"${pkg}"_*.deb
    echo "vmlinux.sh: downloading $pkg"
    (cd "$CACHE_DIR" && apt_get download -q "$pkg")
    deb=$(ls "$CACHE_DIR"/"${pkg}"_*.deb | head -n1)
fi

echo "vmlinux.sh: extracting vmlinux-$rel from $(basename "$deb")"
tmp=$out/.extract.$$
rm -rf "$tmp"; mkdir -p "$tmp"
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" "./usr/lib/debug/boot/vmlinux-$rel"
mv "$tmp/usr/lib/debug/boot/vmlinux-$rel" "$vmlinux"
rm -rf "$tmp"
file "$vmlinux"

free_gb=$(df -P --block-size=1G "$CACHE_DIR" | awk 'NR == 2 {print $4}')
if [ "$free_gb" -lt "${KEEP_DEB_MIN_GB:-40}" ]; then
    echo "vmlinux.sh: ${free_gb} GB free: deleting $(basename "$deb")"
    rm -f "$deb"
fi
ls -l "$vmlinux"

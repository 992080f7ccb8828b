#!/usr/bin/env bash
# Usage: vmlinux.sh KERNEL        (KERNEL = 6.1 | 6.12 | 6.12-rt | 5.10 | 7.3)
# Provides, from Debian's -dbg package:
#   $WORK_DIR/kernels/<release>/vmlinux                 the vmlinux with DWARF;
#   $WORK_DIR/kernels/<release>/modules-dbg/NAME.ko     the DWARF of each Debian module the hung
#                                                       guests load (guest_debian_modules).
# Downloads the .deb (~1 GB) into $CACHE_DIR, extracts only those files, and deletes the .deb
# afterwards when the disk has less than KEEP_DEB_MIN_GB (default 40) GB free. Idempotent.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

KERNEL=${1:?usage: vmlinux.sh 6.1|6.12|6.12-rt|5.10|7.3}
rel=$(kernel_release "$KERNEL")
pkg=$(kernel_dbg_package "$KERNEL")
out=$WORK_DIR/kernels/$rel
vmlinux=$out/vmlinux
dbgdir=$out/modules-dbg
GUEST_DEBIAN_MODULES=$(guest_debian_modules "$KERNEL")

have_vmlinux() { [ -s "$vmlinux" ] && file -L "$vmlinux" | grep -q 'with debug_info'; }
missing=()
for m in $GUEST_DEBIAN_MODULES; do
    [ -s "$dbgdir/$m.ko" ] || missing+=("$m")
done
if have_vmlinux && [ ${#missing[@]} -eq 0 ]; then
    echo "vmlinux.sh: $vmlinux and the debug modules ($GUEST_DEBIAN_MODULES) already there"
    exit 0
fi

"$GEN_DIR/apt-sources.sh"
mkdir -p "$CACHE_DIR" "$out" "$dbgdir"

deb=$(ls "$CACHE_DIR"/"${pkg}"_*.deb 2>/dev/null | head -n1 || true)
if [ -z "$deb" ] || ! dpkg-deb --info "$deb" >/dev/null 2>&1; then
    rm -f "$CACHE_DIR"/"${pkg}"_*.deb
    echo "vmlinux.sh: downloading $pkg"
    if [ -n "$(chroot_dir "$KERNEL")" ]; then
        bash "$GEN_DIR/chroot.sh" "$KERNEL" # its suite is known to the chroot's apt only
    else
        (cd "$CACHE_DIR" && apt_get download -q "$pkg")
    fi
    deb=$(ls "$CACHE_DIR"/"${pkg}"_*.deb | head -n1)
fi

# One pass over the package's data (decompressing it is most of the time) for every file.
patterns=()
# The -dbg package's vmlinux: usr/lib/debug/boot/vmlinux-<release>, from 7.x
# usr/lib/debug/lib/modules/<release>/vmlinux.
case $rel in
[0-6].*) dbg_vmlinux=usr/lib/debug/boot/vmlinux-$rel ;;
*) dbg_vmlinux=usr/lib/debug/lib/modules/$rel/vmlinux ;;
esac
have_vmlinux || patterns+=("./$dbg_vmlinux")
for m in ${missing[@]+"${missing[@]}"}; do
    # Module names use '_' where some file names use '-'.
    patterns+=("./usr/lib/debug/lib/modules/$rel/kernel/*/${m//_/[_-]}.ko")
done
echo "vmlinux.sh: extracting ${patterns[*]} from $(basename "$deb")"
tmp=$out/.extract.$$
rm -rf "$tmp"; mkdir -p "$tmp"
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards "${patterns[@]}"
if ! have_vmlinux; then
    mv "$tmp/$dbg_vmlinux" "$vmlinux"
fi
for m in ${missing[@]+"${missing[@]}"}; do
    ko=$(find "$tmp/usr/lib/debug/lib/modules" -name "${m//_/[_-]}.ko" | head -n1)
    [ -n "$ko" ] || { echo "vmlinux.sh: $pkg has no debug module $m" >&2; exit 1; }
    mv "$ko" "$dbgdir/$m.ko"
done
rm -rf "$tmp"
file "$vmlinux" "$dbgdir"/*.ko

free_gb=$(df -P --block-size=1G "$CACHE_DIR" | awk 'NR == 2 {print $4}')
if [ "$free_gb" -lt "${KEEP_DEB_MIN_GB:-40}" ]; then
    echo "vmlinux.sh: ${free_gb} GB free: deleting $(basename "$deb")"
    rm -f "$deb"
fi
ls -l "$vmlinux" "$dbgdir"

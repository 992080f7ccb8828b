#!/usr/bin/env bash
# Usage: initramfs.sh KERNEL [hangs|oops|stock|live]  (KERNEL = 6.1 | 6.12 | 6.12-rt | 5.10; run
#        kernel.sh KERNEL first)
# Builds, under $WORK_DIR/build/<release>/:
#   hangmod/hangmod.ko   the hang module (from dumps/hangmod, built in a copy: the source tree
#                        stays clean), against /lib/modules/<release>/build with gcc-12 (5.10:
#                        in the bullseye chroot of chroot.sh, with its gcc-10);
#   bench                dumps/guest/bench.c, static;
#   capture.cpio         the capture kernel's initramfs: busybox, the virtio block modules,
#                        /init = dumps/guest/init-capture.sh;
#   first.cpio           the first kernel's initramfs: busybox, kexec and its libraries, the
#                        same vmlinuz + capture.cpio, qemu_fw_cfg.ko, hangmod.ko, bench,
#                        /init = dumps/guest/init-first.sh.
# With "oops" (the capture 6.1-oops-la57), instead of the two cpio files:
#   capture-mdf.cpio     as capture.cpio, plus bookworm's makedumpfile 1.7.2 and its libraries,
#                        /init = dumps/guest/init-capture-mdf.sh;
#   first-oops.cpio      as first.cpio without bench, with capture-mdf.cpio,
#                        /init = dumps/guest/init-oops.sh.
# With "stock" (the captures 6.1-stock and 6.12-stock: hangs in stock kernel code), instead of
# first.cpio:
#   stockmod/stockmod.ko the truth module of those hangs (dumps/stockmod, built in a copy);
#   stock                dumps/guest/stock.c, static;
#   first-stock.cpio     busybox, kexec and its libraries, the same vmlinuz + capture.cpio,
#                        qemu_fw_cfg.ko, the virtio block, dm and ext4 modules (lib/modules/order),
#                        null_blk and configfs (lib/modules/extra/, common.sh
#                        stock_extra_modules), stockmod.ko, stock, dmsetup and mke2fs with their
#                        libraries,
#                        /init = dumps/guest/init-stock.sh.
# With "live" (the capture 6.1-live: holdup on /proc/kcore of the hung kernel), instead of
# first.cpio:
#   first-live.cpio      as first.cpio, plus the static holdup as /holdup ($HOLDUP_STATIC, by
#                        default target/static/holdup, as `just static` builds it),
#                        /bin/live-kcore.sh = dumps/guest/live-kcore.sh, and the virtio block
#                        modules in lib/modules/virtio/ (with their load order) for the disk the
#                        outputs go to.
# Prints the path of first.cpio (first-oops.cpio, first-stock.cpio, first-live.cpio) on its last line. Uncompressed cpio (no gunzip
# under TCG).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

KERNEL=${1:?usage: initramfs.sh 6.1|6.12|6.12-rt|5.10 [hangs|oops|stock|live]}
FLAVOUR=${2:-hangs}
case $FLAVOUR in hangs | oops | stock | live) ;; *) echo "initramfs.sh: unknown flavour $FLAVOUR" >&2; exit 1 ;; esac
rel=$(kernel_release "$KERNEL")
kdir=$WORK_DIR/kernels/$rel
build=$WORK_DIR/build/$rel
vmlinuz=$kdir/boot/vmlinuz-$rel
modtree=$kdir/lib/modules/$rel/kernel

# Modules of a kernel with a chroot (5.10) are built in it, with its gcc; the others here.
croot=$(chroot_dir "$KERNEL")
headers_ok() { if [ -n "$croot" ]; then chroot "$croot" test -e "/lib/modules/$rel/build/Makefile"; else test -e "/lib/modules/$rel/build/Makefile"; fi; }
[ -s "$vmlinuz" ] && [ -d "$modtree" ] && headers_ok ||
    { echo "initramfs.sh: run dumps/gen/kernel.sh $KERNEL first" >&2; exit 1; }
for t in busybox kexec cpio gcc-12; do
    command -v "$t" >/dev/null || { echo "initramfs.sh: $t missing (kernel.sh installs it)" >&2; exit 1; }
done
busybox=$(command -v busybox)
file -L "$busybox" | grep -q 'statically linked' ||
    { echo "initramfs.sh: $busybox is not static (install busybox-static)" >&2; exit 1; }

mkdir -p "$build"

# --- our modules, each built in a copy of its sources ---
build_module() { # name: dumps/NAME/NAME.c -> $build/NAME/NAME.ko
    local m=$1
    mkdir -p "$build/$m"
    cp "$DUMPS_DIR/$m/$m.c" "$DUMPS_DIR/$m/Makefile" "$build/$m/"
    if [ -n "$croot" ]; then
        # In the chroot, with /proc mounted (objtool), in a copy under its /tmp.
        rm -rf "$croot/tmp/$m" && cp -r "$build/$m" "$croot/tmp/$m"
        mountpoint -q "$croot/proc" || mount -t proc proc "$croot/proc"
        chroot "$croot" /usr/bin/env -i PATH=/usr/bin:/bin LC_ALL=C \
            make -s -C "/tmp/$m" KRELEASE="$rel" >"$build/$m/build.log" 2>&1 ||
            { umount "$croot/proc"; cat "$build/$m/build.log" >&2; echo "initramfs.sh: $m build failed" >&2; exit 1; }
        umount "$croot/proc"
        cp "$croot/tmp/$m/$m.ko" "$build/$m/$m.ko"
    else
        make -s -C "$build/$m" KRELEASE="$rel" CC=gcc-12 >"$build/$m/build.log" 2>&1 ||
            { cat "$build/$m/build.log" >&2; echo "initramfs.sh: $m build failed" >&2; exit 1; }
    fi
    if grep -i 'warning' "$build/$m/build.log" >&2; then
        echo "initramfs.sh: $m built with warnings" >&2; exit 1
    fi
    modinfo -F vermagic "$build/$m/$m.ko" | grep -q "^$rel " ||
        { echo "initramfs.sh: $m.ko vermagic is not $rel" >&2; exit 1; }
}
if [ "$FLAVOUR" = stock ]; then
    build_module stockmod
    gcc-12 -static -O2 -Wall -Wextra -Werror -o "$build/stock" "$DUMPS_DIR/guest/stock.c"
else
    build_module hangmod
    # --- bench, static ---
    gcc-12 -static -O2 -Wall -Wextra -Werror -o "$build/bench" "$DUMPS_DIR/guest/bench.c"
fi

# --- kernel modules from the unpacked image package ---
find_ko() { # module name -> path of its .ko / .ko.xz in the unpacked package, or nothing
    local n=$1 alt=${1//_/-}
    find "$modtree" \( -name "$n.ko" -o -name "$n.ko.xz" -o -name "$alt.ko" -o -name "$alt.ko.xz" \) |
        head -n1
}
put_ko() { # module name, destination dir: copies it as <name>.ko (decompressed)
    local src
    src=$(find_ko "$1")
    [ -n "$src" ] || return 1
    case $src in
    *.xz) xz -dc "$src" >"$2/$1.ko" ;;
    *) cp "$src" "$2/$1.ko" ;;
    esac
}
# Load order (into the array "order"): each module after its depends= (from .modinfo; the .deb
# has no modules.dep). Modules not shipped as .ko are built in (6.12: all but virtio_blk).
order=()
add_with_deps() {
    local m=$1 d tmp
    for d in ${order[@]+"${order[@]}"}; do [ "$d" = "$m" ] && return 0; done
    tmp=$(mktemp -d)
    if ! put_ko "$m" "$tmp"; then
        rm -rf "$tmp"
        grep -qiE "^CONFIG_${m^^}=y" "$kdir/boot/config-$rel" ||
            echo "initramfs.sh: note: module $m not found, assumed built in" >&2
        return 0
    fi
    for d in $(modinfo -F depends "$tmp/$m.ko" | tr ',' ' '); do add_with_deps "$d"; done
    rm -rf "$tmp"
    order+=("$m")
}
# The capture kernel's: the virtio block driver.
add_with_deps virtio_pci
add_with_deps virtio_blk
capture_order=("${order[@]}")

mkcpio() { # root dir, output file
    (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$2.tmp"
    mv "$2.tmp" "$2"
}
base_root() { # dir: busybox, /dev/console and /dev/null nodes
    rm -rf "$1"
    mkdir -p "$1"/{bin,sbin,dev,proc,sys,tmp,boot,lib/modules}
    cp "$busybox" "$1/bin/busybox"
    mknod -m 600 "$1/dev/console" c 5 1
    mknod -m 666 "$1/dev/null" c 1 3
}

copy_libs() { # binary, root: the shared libraries ldd lists, at their paths
    local lib
    for lib in $(ldd "$1" | awk '/=>/ {print $3} /^\s*\// {print $1}'); do
        [ -f "$lib" ] || continue
        mkdir -p "$2$(dirname "$lib")"
        cp -L "$lib" "$2$lib"
    done
}

if [ "$FLAVOUR" = oops ]; then
    mdf=$TOOLS_DIR/bin/makedumpfile-1.7.2
    [ -x "$mdf" ] || { echo "initramfs.sh: $mdf missing (run tools.sh)" >&2; exit 1; }
    # --- capture initramfs with makedumpfile ---
    croot=$build/capture-mdf-root
    base_root "$croot"
    for m in "${capture_order[@]}"; do put_ko "$m" "$croot/lib/modules"; done
    printf '%s\n' "${capture_order[@]}" >"$croot/lib/modules/order"
    cp "$mdf" "$croot/sbin/makedumpfile"
    copy_libs "$mdf" "$croot"
    install -m 755 "$DUMPS_DIR/guest/init-capture-mdf.sh" "$croot/init"
    mkcpio "$croot" "$build/capture-mdf.cpio"

    # --- first initramfs of the oops capture ---
    froot=$build/first-oops-root
    base_root "$froot"
    cp "$(command -v kexec)" "$froot/sbin/kexec"
    copy_libs "$(command -v kexec)" "$froot"
    cp "$vmlinuz" "$froot/boot/vmlinuz"
    cp "$build/capture-mdf.cpio" "$froot/boot/capture.cpio"
    put_ko qemu_fw_cfg "$froot/lib/modules" || { echo "initramfs.sh: no qemu_fw_cfg module" >&2; exit 1; }
    cp "$build/hangmod/hangmod.ko" "$froot/lib/modules/hangmod.ko"
    install -m 755 "$DUMPS_DIR/guest/init-oops.sh" "$froot/init"
    mkcpio "$froot" "$build/first-oops.cpio"
    echo "initramfs.sh: capture modules: ${capture_order[*]}; makedumpfile $("$mdf" -v 2>&1 | head -n1)" >&2
    echo "initramfs.sh: $(du -h "$build/capture-mdf.cpio" | cut -f1) capture-mdf.cpio, $(du -h "$build/first-oops.cpio" | cut -f1) first-oops.cpio" >&2
    echo "$build/first-oops.cpio"
    exit 0
fi

# --- capture initramfs ---
croot=$build/capture-root
base_root "$croot"
for m in "${capture_order[@]}"; do put_ko "$m" "$croot/lib/modules"; done
printf '%s\n' "${capture_order[@]}" >"$croot/lib/modules/order"
install -m 755 "$DUMPS_DIR/guest/init-capture.sh" "$croot/init"
mkcpio "$croot" "$build/capture.cpio"

if [ "$FLAVOUR" = stock ]; then
    # The first kernel's modules: the virtio block driver (its ext4 disks), dm (dm-linear is in
    # dm_mod), ext4 and the crc32c it asks the crypto API for when it mounts (qemu64: generic).
    order=()
    for m in virtio_pci virtio_blk dm_mod ext4 crc32c_generic; do add_with_deps "$m"; done
    for m in "${order[@]}"; do
        case " $(stock_debian_modules "$KERNEL") " in *" $m "*) ;; *)
            echo "initramfs.sh: module $m is not in common.sh stock_debian_modules $KERNEL" >&2; exit 1 ;;
        esac
    done
    froot=$build/first-stock-root
    base_root "$froot"
    mkdir -p "$froot/etc" "$froot/run"
    ln -s /proc/mounts "$froot/etc/mtab"
    cp "$(command -v kexec)" "$froot/sbin/kexec"
    copy_libs "$(command -v kexec)" "$froot"
    for b in dmsetup mke2fs; do
        p=$(PATH=/usr/sbin:/sbin:$PATH command -v $b) || { echo "initramfs.sh: no $b (kernel.sh installs it)" >&2; exit 1; }
        cp "$p" "$froot/sbin/$b"
        copy_libs "$p" "$froot"
    done
    cp /etc/mke2fs.conf "$froot/etc/mke2fs.conf"
    cp "$vmlinuz" "$froot/boot/vmlinuz"
    cp "$build/capture.cpio" "$froot/boot/capture.cpio"
    put_ko qemu_fw_cfg "$froot/lib/modules" || { echo "initramfs.sh: no qemu_fw_cfg module" >&2; exit 1; }
    for m in "${order[@]}"; do put_ko "$m" "$froot/lib/modules"; done
    printf '%s\n' "${order[@]}" >"$froot/lib/modules/order"
    # The modules of the extra scenarios (common.sh stock_extra_modules: null_blk and
    # configfs), in lib/modules/extra/ with their load order: /init
    # loads them itself, with parameters, when holdup_stock_extra=1.
    base_order=("${order[@]}")
    order=()
    for m in $(stock_extra_modules "$KERNEL"); do add_with_deps "$m"; done
    extra_order=()
    for m in ${order[@]+"${order[@]}"}; do
        case " ${base_order[*]} " in *" $m "*) ;; *) extra_order+=("$m") ;; esac
    done
    order=("${base_order[@]}")
    if [ ${#extra_order[@]} -gt 0 ]; then
        mkdir -p "$froot/lib/modules/extra"
        for m in "${extra_order[@]}"; do put_ko "$m" "$froot/lib/modules/extra"; done
        printf '%s\n' "${extra_order[@]}" >"$froot/lib/modules/extra/order"
    fi
    cp "$build/stockmod/stockmod.ko" "$froot/lib/modules/stockmod.ko"
    cp "$build/stock" "$froot/bin/stock"
    install -m 755 "$DUMPS_DIR/guest/init-stock.sh" "$froot/init"
    mkcpio "$froot" "$build/first-stock.cpio"
    echo "initramfs.sh: capture modules: ${capture_order[*]}; first kernel: ${order[*]}${extra_order[*]:+; extra: ${extra_order[*]}}" >&2
    echo "initramfs.sh: $(du -h "$build/capture.cpio" | cut -f1) capture.cpio, $(du -h "$build/first-stock.cpio" | cut -f1) first-stock.cpio" >&2
    echo "$build/first-stock.cpio"
    exit 0
fi

# --- first initramfs ---
first=first
[ "$FLAVOUR" = live ] && first=first-live
froot=$build/$first-root
base_root "$froot"
kexec=$(command -v kexec)
cp "$kexec" "$froot/sbin/kexec"
# kexec's shared libraries (bookworm's is built with Xen support: about ten of them).
for lib in $(ldd "$kexec" | awk '/=>/ {print $3} /^\s*\// {print $1}'); do
    [ -f "$lib" ] || continue
    mkdir -p "$froot$(dirname "$lib")"
    cp -L "$lib" "$froot$lib"
done
cp "$vmlinuz" "$froot/boot/vmlinuz"
cp "$build/capture.cpio" "$froot/boot/capture.cpio"
put_ko qemu_fw_cfg "$froot/lib/modules" || { echo "initramfs.sh: no qemu_fw_cfg module" >&2; exit 1; }
cp "$build/hangmod/hangmod.ko" "$froot/lib/modules/hangmod.ko"
cp "$build/bench" "$froot/bin/bench"
install -m 755 "$DUMPS_DIR/guest/init-first.sh" "$froot/init"
if [ "$FLAVOUR" = live ]; then
    holdup=${HOLDUP_STATIC:-$(dirname "$DUMPS_DIR")/target/static/holdup}
    [ -x "$holdup" ] || { echo "initramfs.sh: $holdup missing (build it as \`just static\` does)" >&2; exit 1; }
    file -L "$holdup" | grep -q 'static-pie linked\|statically linked' ||
        { echo "initramfs.sh: $holdup is not statically linked" >&2; exit 1; }
    cp "$holdup" "$froot/holdup"
    install -m 755 "$DUMPS_DIR/guest/live-kcore.sh" "$froot/bin/live-kcore.sh"
    mkdir -p "$froot/lib/modules/virtio"
    for m in "${capture_order[@]}"; do put_ko "$m" "$froot/lib/modules/virtio"; done
    printf '%s\n' "${capture_order[@]}" >"$froot/lib/modules/virtio/order"
fi
mkcpio "$froot" "$build/$first.cpio"

echo "initramfs.sh: capture modules: ${capture_order[*]}" >&2
echo "initramfs.sh: $(du -h "$build/capture.cpio" | cut -f1) capture.cpio, $(du -h "$build/$first.cpio" | cut -f1) $first.cpio" >&2
echo "$build/$first.cpio"

# Shared settings of the dump generator; sourced by the scripts in dumps/gen/.
# KERNEL is the short name of a Debian kernel: 6.1, 6.12, 6.12-rt (PREEMPT_RT), 5.10 or 7.3.
set -euo pipefail

GEN_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DUMPS_DIR=$(dirname "$GEN_DIR")
# Large, regenerable things (downloads, builds, raw captures) live here, ignored by git.
WORK_DIR=${HOLDUP_DUMPS_WORK:-$DUMPS_DIR/work}
CACHE_DIR=$WORK_DIR/cache
TOOLS_DIR=$WORK_DIR/tools

# The captures make-dumps.sh knows (gen/capture.py PROFILES has what each boots).
CAPTURES="6.1 6.12 6.1-oops-la57 6.1-la57 6.1-stock 6.12-stock 6.12-rt 5.10 7.3 6.1-live"

capture_kernel() { # capture name -> the short name of its kernel (6.1-oops-la57 -> 6.1)
    case "$1" in
    6.1 | 6.12 | 6.12-rt | 5.10 | 7.3) echo "$1" ;;
    6.1-oops-la57 | 6.1-la57 | 6.1-stock | 6.1-live) echo 6.1 ;;
    6.12-stock) echo 6.12 ;;
    *) echo "unknown capture '$1' (expected one of: $CAPTURES)" >&2; return 1 ;;
    esac
}

kernel_release() { # short name -> uname -r of the Debian kernel
    case "$1" in
    6.1) echo 6.1.0-56-amd64 ;;
    6.12) echo 6.12.95+deb12-amd64 ;;
    6.12-rt) echo 6.12.95+deb12-rt-amd64 ;; # PREEMPT_RT, the same 6.12.95 as 6.12
    5.10) echo 5.10.0-32-amd64 ;;
    7.3) echo 7.3-amd64 ;; # Debian's rc kernels have no sublevel: 7.3~rc7
    *) echo "unknown kernel '$1' (expected 6.1, 6.12, 6.12-rt, 5.10 or 7.3)" >&2; return 1 ;;
    esac
}

kernel_image_package() { # short name -> Debian binary package with vmlinuz and modules
    case "$1" in
    6.1) echo linux-image-6.1.0-56-amd64 ;;
    6.12 | 6.12-rt | 5.10) echo "linux-image-$(kernel_release "$1")-unsigned" ;;
    # From 7.x the linux-image package is empty: vmlinuz is in linux-binary-*, the modules in
    # linux-modules-*, config and System.map in linux-base-* (kernel_more_packages), all under
    # /usr/lib/modules/<release>/.
    7.3) echo "linux-binary-unsigned-$(kernel_release "$1")" ;;
    *) return 1 ;;
    esac
}

kernel_more_packages() { # short name -> the other packages the kernel is split into (7.x)
    case "$1" in
    7.3) echo "linux-modules-$(kernel_release "$1") linux-base-$(kernel_release "$1")" ;;
    *) echo "" ;;
    esac
}

kernel_suite() { # short name -> the Debian suite of its packages
    case "$1" in
    6.1) echo bookworm ;;
    6.12 | 6.12-rt) echo bookworm-backports ;;
    # Not in the host's apt sources: its headers, gcc-10 and the packages come through a
    # debootstrapped bullseye chroot (kernel.sh, chroot_dir).
    5.10) echo bullseye ;;
    # sid with experimental (gcc-16, and the headers want libc6 >= 2.38): a chroot as for 5.10.
    7.3) echo experimental ;;
    *) return 1 ;;
    esac
}

# The chroot that builds modules for kernels whose compiler or libc the host lacks (5.10:
# bullseye's gcc-10); empty for the kernels the host builds for itself.
chroot_dir() { # short name -> directory
    case "$1" in
    5.10) echo "$WORK_DIR/chroot/bullseye" ;;
    7.3) echo "$WORK_DIR/chroot/sid" ;;
    *) echo "" ;;
    esac
}

kernel_dbg_package() { # short name -> Debian package with the DWARF vmlinux and modules
    echo "linux-image-$(kernel_release "$1")-dbg"
}

# The Debian modules the hung guests load (guest/init-*.sh, gen/initramfs.sh): vmlinux.sh
# extracts their DWARF from the -dbg package for oracle/module_dwarf_offsets.py. The stock
# captures (6.1-stock, 6.12-stock) also load the virtio block stack (their ext4 disks),
# device-mapper and ext4 with its dependencies (stock_debian_modules), and null_blk
# (stock_extra_modules).
guest_debian_modules() { # short kernel name -> module names
    case "$1" in
    6.1 | 6.12) echo "qemu_fw_cfg $(stock_debian_modules "$1") $(stock_extra_modules "$1")" ;;
    *) echo qemu_fw_cfg ;;
    esac
}
stock_debian_modules() { # short kernel name -> the Debian modules the stock guest loads
    case "$1" in
    6.1) echo "virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk dm_mod crc16 mbcache jbd2 ext4 crc32c_generic" ;;
    # 6.12 has the virtio core and virtio_pci built in
    6.12) echo "virtio_blk dm_mod crc16 mbcache jbd2 ext4 crc32c_generic" ;;
    *) echo "" ;;
    esac
}
# The modules of the extra stock scenarios (holdup_stock_extra=1, see guest/init-stock.sh; both
# stock captures have them): null_blk (scenario blk_tags) and its configfs. initramfs.sh puts them in
# lib/modules/extra/ with their own load order; /init loads null_blk with its parameters.
stock_extra_modules() { # short kernel name -> module names
    case "$1" in
    6.1 | 6.12) echo "configfs null_blk" ;;
    *) echo "" ;;
    esac
}

# The makedumpfile of a kernel bookworm's 1.7.2 does not know (7.3; 6.12-rt, where 1.7.2 at
# -d 31 drops pages of live tasks: sid's 1.7.8, through the sid chroot's loader; chroot.sh
# writes the wrapper, formats.sh runs `chroot.sh makedumpfile` if it is missing), or nothing
# (formats.sh chooses as before).
kernel_makedumpfile() { # short name -> path or ""
    case "$1" in
    6.12-rt | 7.3) echo "$TOOLS_DIR/bin/makedumpfile-sid" ;;
    *) echo "" ;;
    esac
}

# Whether crash 8.0.6 reads dumps of the kernel (7.3: no; crash 9.0.2 neither, see
# dumps/README.md): without it formats.sh checks the truth with drgn on an ELF copy, and
# oracles.sh runs drgn alone, on that ELF (drgn 0.3.0 refuses 7.3's kdump files).
crash_reads() { # short name -> status
    case "$1" in
    7.3) return 1 ;;
    *) return 0 ;;
    esac
}

apt_get() { apt-get -o DPkg::Lock::Timeout=900 "$@"; }

# Shared settings of the dump generator; sourced by the scripts in dumps/gen/.
# KERNEL is the short name given on the command line: 6.1 or 6.12.
set -euo pipefail

GEN_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DUMPS_DIR=$(dirname "$GEN_DIR")
# Large, regenerable things (downloads, builds, raw captures) live here, ignored by git.
WORK_DIR=${HOLDUP_DUMPS_WORK:-$DUMPS_DIR/work}
CACHE_DIR=$WORK_DIR/cache
TOOLS_DIR=$WORK_DIR/tools

# The captures make-dumps.sh knows (gen/capture.py PROFILES has what each boots).
CAPTURES="6.1 6.12 6.1-oops-la57 6.1-la57 6.1-stock"

capture_kernel() { # capture name -> the short name of its kernel (6.1-oops-la57 -> 6.1)
    case "$1" in
    6.1 | 6.12) echo "$1" ;;
    6.1-oops-la57 | 6.1-la57 | 6.1-stock) echo 6.1 ;;
    *) echo "unknown capture '$1' (expected one of: $CAPTURES)" >&2; return 1 ;;
    esac
}

kernel_release() { # short name -> uname -r of the Debian kernel
    case "$1" in
    6.1) echo 6.1.0-56-amd64 ;;
    6.12) echo 6.12.95+deb12-amd64 ;;
    *) echo "unknown kernel '$1' (expected 6.1 or 6.12)" >&2; return 1 ;;
    esac
}

kernel_image_package() { # short name -> Debian binary package with vmlinuz and modules
    case "$1" in
    6.1) echo linux-image-6.1.0-56-amd64 ;;
    6.12) echo linux-image-6.12.95+deb12-amd64-unsigned ;;
    *) return 1 ;;
    esac
}

kernel_dbg_package() { # short name -> Debian package with the DWARF vmlinux and modules
    echo "linux-image-$(kernel_release "$1")-dbg"
}

# The Debian modules the hung guests load (guest/init-*.sh, gen/initramfs.sh): vmlinux.sh
# extracts their DWARF from the -dbg package for oracle/module_dwarf_offsets.py. The 6.1-stock
# capture also loads the virtio block stack (its ext4 disks), device-mapper and ext4 with its
# dependencies (6.1 has them as modules).
guest_debian_modules() { # short kernel name -> module names
    case "$1" in
    6.1) echo "qemu_fw_cfg $STOCK_DEBIAN_MODULES" ;;
    *) echo qemu_fw_cfg ;;
    esac
}
STOCK_DEBIAN_MODULES="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk dm_mod crc16 mbcache jbd2 ext4 crc32c_generic"

apt_get() { apt-get -o DPkg::Lock::Timeout=900 "$@"; }

# Shared settings of the dump generator; sourced by the scripts in dumps/gen/.
# KERNEL is the short name given on the command line: 6.1 or 6.12.
set -euo pipefail

GEN_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DUMPS_DIR=$(dirname "$GEN_DIR")
# Large, regenerable things (downloads, builds, raw captures) live here, ignored by git.
WORK_DIR=${HOLDUP_DUMPS_WORK:-$DUMPS_DIR/work}
CACHE_DIR=$WORK_DIR/cache
TOOLS_DIR=$WORK_DIR/tools

capture_kernel() { # capture name -> the short name of its kernel (6.1-oops-la57 -> 6.1)
    case "$1" in
    6.1 | 6.12) echo "$1" ;;
    6.1-oops-la57) echo 6.1 ;;
    *) echo "unknown capture '$1' (expected 6.1, 6.12 or 6.1-oops-la57)" >&2; return 1 ;;
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

# The Debian modules the hung guest loads (guest/init-first.sh, gen/initramfs.sh): vmlinux.sh
# extracts their DWARF from the -dbg package for oracle/module_dwarf_offsets.py.
GUEST_DEBIAN_MODULES="qemu_fw_cfg"

apt_get() { apt-get -o DPkg::Lock::Timeout=900 "$@"; }

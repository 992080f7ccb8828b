#!/usr/bin/env bash
# Usage: tools.sh
# Idempotently provides the oracle tools under $TOOLS_DIR/bin and a drgn venv at $WORK_DIR/venv:
#   crash                 8.0.6, built from Debian trixie's source package (its orig tarball
#                         bundles gdb-10.2.tar.gz, so crash's Makefile downloads nothing), with
#                         LZO, snappy and zstd support;
#   makedumpfile          built from trixie's source (1.7.6) with LZO, snappy and zstd, when the
#                         archive serves that source; verified to write each compression;
#   makedumpfile-1.7.2    bookworm's binary package, extracted (zlib and LZO only);
#   drgn                  from PyPI, plus cramjam/zstandard for oracle/kdump_reencode.py.
# formats.sh checks the compression flags of every kdump header it writes.
# Prints each tool's version at the end. Builds use make -j2 at most (shared 2-core machine).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

JOBS=${JOBS:-2}
BIN=$TOOLS_DIR/bin
SRC=$TOOLS_DIR/src
VENV=$WORK_DIR/venv
mkdir -p "$BIN" "$SRC" "$CACHE_DIR"

"$GEN_DIR/apt-sources.sh"

# --- build and runtime dependencies, from bookworm -------------------------------------------
deps="dpkg-dev bison flex texinfo gawk binutils-dev libncurses-dev zlib1g-dev liblzo2-dev
      libsnappy-dev libzstd-dev libelf-dev libdw-dev libbz2-dev zstd file"
missing=$(for p in $deps; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || echo "$p"; done)
if [ -n "$missing" ]; then
    echo "tools.sh: installing $(echo $missing)"
    apt_get install -y -q --no-install-recommends $missing
fi

# sha256 of FILE as listed by `apt-cache showsrc PKG` for VERSION (empty if not listed).
listed_sha256() { # pkg version filename
    apt-cache showsrc "$1" | awk -v v="$2" -v f="$3" '
        /^Package:/ {inpkg = 0} /^Version:/ {inpkg = ($2 == v)}
        /^Checksums-Sha256:/ {insum = 1; next} /^[^ ]/ {insum = 0}
        inpkg && insum && $3 == f {print $1}'
}

# Fetches Debian source package PKG at VERSION (trixie) into $SRC; sets ORIG to the orig tarball.
# `apt-get source` verifies everything it downloads. Some mirrors serve only part of a source
# package (seen here: crash's .dsc and .debian.tar.xz 404 while its orig tarball downloads); we
# then accept the orig tarball alone if its sha256 matches the Sources index apt verified.
fetch_source() { # pkg version(without epoch) upstream_version
    local pkg=$1 ver=$2 up=$3
    ORIG=$SRC/${pkg}_${up}.orig.tar.gz
    if [ -f "$ORIG" ] && [ "$(sha256sum <"$ORIG" | cut -d' ' -f1)" = "$(listed_sha256 "$pkg" "$ver" "$(basename "$ORIG")")" ]; then
        return 0
    fi
    (cd "$SRC" && apt-get source -q --download-only "$pkg/trixie") || true
    local want
    want=$(listed_sha256 "$pkg" "$ver" "$(basename "$ORIG")")
    if [ -z "$want" ]; then
        want=$(apt-cache showsrc "$pkg" | awk '/^Checksums-Sha256:/ {s = 1; next} /^[^ ]/ {s = 0}
            s && $3 == "'"$(basename "$ORIG")"'" {print $1; exit}')
    fi
    if [ -f "$ORIG" ] && [ -n "$want" ] && [ "$(sha256sum <"$ORIG" | cut -d' ' -f1)" = "$want" ]; then
        echo "tools.sh: $(basename "$ORIG") verified (sha256 $want)"
        return 0
    fi
    echo "tools.sh: could not fetch the source of $pkg $ver from Debian's archive" >&2
    return 1
}

# --- crash 8.0.6 ------------------------------------------------------------------------------
CRASH_VER=8.0.6
if ! "$BIN/crash" --version 2>/dev/null | grep -q "crash $CRASH_VER"; then
    t0=$SECONDS
    fetch_source crash "$CRASH_VER-1" "$CRASH_VER"
    d=$SRC/crash-$CRASH_VER
    if [ ! -f "$d/.holdup-configured" ]; then
        rm -rf "$d"
        tar -xzf "$ORIG" -C "$SRC"
        # The bundled gdb tarball keeps the Makefile from downloading it (it would wget it).
        [ -f "$d/gdb-10.2.tar.gz" ] || { echo "tools.sh: crash source lacks gdb-10.2.tar.gz" >&2; exit 1; }
        printf '%s\n' -DLZO -DSNAPPY -DZSTD >"$d/CFLAGS.extra"
        printf '%s\n' -llzo2 -lsnappy -lzstd >"$d/LDFLAGS.extra"
        touch "$d/.holdup-configured"
    fi
    echo "tools.sh: building crash $CRASH_VER (about 12-20 minutes on 2 cores); log $d/build.log"
    (cd "$d" && make -j"$JOBS" target=X86_64 >"$d/build.log" 2>&1) ||
        { tail -30 "$d/build.log"; echo "tools.sh: crash build failed" >&2; exit 1; }
    install -m 755 "$d/crash" "$BIN/crash"
    echo "tools.sh: crash built in $((SECONDS - t0)) s"
fi

# --- makedumpfile from trixie's source (1.7.6) -------------------------------------------------
MDF_VER=1.7.6
if ! "$BIN/makedumpfile" -v 2>/dev/null | grep -q "version $MDF_VER"; then
    if fetch_source makedumpfile "1:$MDF_VER-1" "$MDF_VER"; then
        d=$SRC/makedumpfile-$MDF_VER
        rm -rf "$d"
        tar -xzf "$ORIG" -C "$SRC"
        (cd "$d" && make -j"$JOBS" LINKTYPE=dynamic USELZO=on USESNAPPY=on USEZSTD=on >build.log 2>&1) ||
            { tail -30 "$d/build.log"; echo "tools.sh: makedumpfile build failed" >&2; exit 1; }
        install -m 755 "$d/makedumpfile" "$BIN/makedumpfile"
    else
        echo "tools.sh: WARNING: no makedumpfile $MDF_VER; formats.sh will use makedumpfile-1.7.2" \
            "for zlib/lzo/ELF/flattened and oracle/kdumptool.py reencode for snappy and zstd" >&2
    fi
fi

# --- bookworm's makedumpfile 1.7.2 (kept for the over-filtered 6.12 fixture) -------------------
if ! "$BIN/makedumpfile-1.7.2" -v 2>/dev/null | grep -q 'version 1.7.2'; then
    apt_get install -y -q --no-install-recommends libdw1 libelf1 liblzo2-2 zlib1g
    deb=$(ls "$CACHE_DIR"/makedumpfile_*1.7.2-1_amd64.deb 2>/dev/null | head -n1 || true)
    if [ -z "$deb" ]; then
        (cd "$CACHE_DIR" && apt_get download -q makedumpfile/bookworm)
        deb=$(ls "$CACHE_DIR"/makedumpfile_*1.7.2-1_amd64.deb | head -n1)
    fi
    x=$TOOLS_DIR/makedumpfile-1.7.2-deb
    rm -rf "$x"; dpkg-deb -x "$deb" "$x"
    install -m 755 "$x/usr/bin/makedumpfile" "$BIN/makedumpfile-1.7.2"
fi

# --- drgn (and the re-encoder's compressors) in a venv -----------------------------------------
if ! "$VENV/bin/python" -c 'import drgn, cramjam, zstandard, lzo' 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q 'drgn==0.3.0' 'cramjam>=2.8' 'zstandard>=0.22' 'python-lzo>=1.15'
fi

echo "== tool versions"
"$BIN/crash" --version | grep -m1 "^crash "
cat "$SRC/crash-$CRASH_VER/CFLAGS.extra" | paste -sd' ' | sed 's/^/crash CFLAGS.extra: /'
for m in makedumpfile makedumpfile-1.7.2; do
    [ -x "$BIN/$m" ] || { echo "$m: not available"; continue; }
    echo "$m: $("$BIN/$m" -v 2>&1 | head -n1)"
done
"$VENV/bin/python" -c 'import drgn, cramjam, zstandard; print("drgn", drgn.__version__, "cramjam", cramjam.__version__, "zstandard", zstandard.__version__)'

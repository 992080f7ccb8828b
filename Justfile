# Everyday commands. `cargo install just` if `just` is missing.

# List the recipes.
default:
    @just --list

# Build the holdup binary (release).
build:
    cargo build --release

# The README's test command: every test, on the committed real vmcores.
test:
    cargo test --workspace --release

# A statically linked holdup (glibc, static-pie), stripped, in target/static/holdup: one file
# to copy onto a hung machine or into a rescue initramfs (no musl target needed)
static:
    RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --target x86_64-unknown-linux-gnu -p holdup --target-dir target/static
    strip -o target/static/holdup target/static/x86_64-unknown-linux-gnu/release/holdup

# The report with each fixture's -dbg vmlinux equals the report from the dump alone: fetches
# the vmlinux files (hundreds of MB each) into dumps/work/kernels/ first
test-vmlinux:
    for k in 5.10 6.1 6.12 6.12-rt 7.3; do bash dumps/gen/vmlinux.sh $k; done
    cargo build --release
    cargo test --release -p holdup-e2e --test with_vmlinux -- --ignored

# Rewrite docs/schemas/ (each command's --json schema) from the types that print the JSON
schemas:
    cargo build --release
    for c in report ps bt locks page info log triage; do ./target/release/holdup schema $c > docs/schemas/$c.schema.json; done

# Run in crash (with each fixture's -dbg vmlinux) every crash command the report names, into
# each fixture's crash-holdup-commands.txt (tests/tests/crash_commands.rs checks the claims)
crash-commands:
    cargo build --release
    for k in 5.10 6.1 6.12 6.12-rt; do bash dumps/gen/vmlinux.sh $k; done
    bash dumps/gen/crash-commands.sh 6.1 6.12 6.1-la57 6.12-rt 6.1-stock 6.12-stock 5.10 6.12-overfiltered

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets --release -- -D warnings

# The hang report on the committed 6.1 fixture.
run *ARGS:
    cargo run --release -q -- {{ARGS}} dumps/fixtures/6.1/vmcore.kdump-zlib

# Regenerate real vmcores for one capture (6.1, 6.12; 6.1-la57: the hangs on 5-level paging;
# 6.1-oops-la57: an oops, no hang; 6.1-stock: hangs in stock kernel code; 6.12-rt: the hangs on
# PREEMPT_RT; 5.10: the hangs on bullseye's kernel; 7.3: on experimental's); see dumps/README.md.
dumps KERNEL:
    bash dumps/gen/make-dumps.sh {{KERNEL}}

# The big dump (issue 17): a 16 GiB guest of the 6.1 kernel, ~10,300 tasks, 3,001 waiting on one
# mmap_lock and 2,000 on one i_rwsem, plus hangmod's seven hangs; QEMU dumps it live. Cached in
# dumps/work/big/ (never committed; ARGS=--force remakes it). See dumps/README.md "The big dump".
dumps-big *ARGS:
    bash dumps/gen/big.sh {{ARGS}}

# holdup's report, ps and bt --all on the big dump (best of 3, CPU, peak RSS), checked against
# its truth, then crash's ps and foreach bt and drgn's once; see benches/README.md "Big dump".
bench-big *DUMP:
    bash benches/big.sh {{DUMP}}

# holdup vs crash and drgn on one dump (default: the 6.1 kdump-zlib fixture), then `holdup triage`
# of every fixture vs the single runs (BENCH_ONLY=triage for only that); see benches/README.md.
bench KERNEL="6.1" *DUMP:
    bash benches/run.sh {{KERNEL}} {{DUMP}}

# libFuzzer via cargo-fuzz on the stable toolchain (RUSTC_BOOTSTRAP=1; `cargo install
# cargo-fuzz` once). New inputs go to fuzz/target/corpus/, crashes to fuzz/artifacts/ (copy
# them to fuzz/regressions/<target>/ once fixed). See fuzz/README.md and SECURITY.md.
# Run every fuzz target (or those named) for SECONDS each
fuzz SECONDS="60" *TARGETS:
    #!/usr/bin/env bash
    set -euo pipefail
    export RUSTC_BOOTSTRAP=1
    cargo fuzz build -a --sanitizer none
    targets="{{TARGETS}}"
    [ -n "$targets" ] || targets=$(cargo fuzz list)
    for t in $targets; do
        mkdir -p fuzz/target/corpus/$t fuzz/corpus/$t
        echo "== $t ({{SECONDS}} s)"
        cargo fuzz run -a --sanitizer none $t fuzz/target/corpus/$t fuzz/corpus/$t -- \
            -max_total_time={{SECONDS}} -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 -print_final_stats=1 2>&1 \
            | grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==|SUMMARY|Test unit written)' || true
        if compgen -G "fuzz/artifacts/$t/*-*" >/dev/null; then
            echo "$t: FAILED, see fuzz/artifacts/$t/"; exit 1
        fi
    done

# One summary line per target; fuzz/CAMPAIGNS.md records the campaigns run so far.
# Run fuzz targets one after the other until each has executed RUNS inputs
fuzz-runs RUNS="10000000" *TARGETS:
    #!/usr/bin/env bash
    set -euo pipefail
    export RUSTC_BOOTSTRAP=1
    cargo fuzz build -a --sanitizer none
    targets="{{TARGETS}}"
    [ -n "$targets" ] || targets=$(cargo fuzz list)
    for t in $targets; do
        mkdir -p fuzz/target/corpus/$t fuzz/corpus/$t fuzz/artifacts/$t
        start=$SECONDS
        status=0
        fuzz/target/x86_64-unknown-linux-gnu/release/$t fuzz/target/corpus/$t fuzz/corpus/$t \
            -runs={{RUNS}} -timeout=30 -rss_limit_mb=2048 -malloc_limit_mb=512 -print_final_stats=1 \
            -artifact_prefix=fuzz/artifacts/$t/ >fuzz/target/$t.log 2>&1 || status=$?
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' fuzz/target/$t.log)
        rss=$(sed -n 's/^stat::peak_rss_mb: *//p' fuzz/target/$t.log)
        echo "$t: ${runs:-0} runs in $((SECONDS - start)) s, peak RSS ${rss:-?} MB, exit $status (log: fuzz/target/$t.log)"
        [ "$status" = 0 ] || { echo "$t: FAILED, see fuzz/artifacts/$t/"; exit 1; }
    done

# Regenerate the fuzz seed corpus (fuzz/corpus/*/seed-*) from the committed fixtures.
fuzz-seeds:
    cargo run --release -p holdup-fuzz-targets --example make_seeds

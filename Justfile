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

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# The hang report on the committed 6.1 fixture.
run *ARGS:
    cargo run --release -q -- {{ARGS}} dumps/fixtures/6.1/vmcore.kdump-zlib

# Regenerate real vmcores of real hangs for one kernel (6.1 or 6.12); see dumps/README.md.
dumps KERNEL:
    bash dumps/gen/make-dumps.sh {{KERNEL}}

# Benchmarks against crash and drgn on the same dumps.
bench:
    @echo "no benchmark yet: see issue 3 (info/log), 4 (bt) and 5 (the report)" && exit 1

# Run every fuzz target for SECONDS each.
fuzz SECONDS="60":
    @echo "no fuzz targets yet: see issue 7" && exit 1

#!/usr/bin/env bash
# Builds a static release `openclaw` for a Linux target:
#
#   tests/cross/build.sh x86_64 | aarch64 | armv7 | riscv64   (or a full triple)
#
# and leaves it at $CARGO_TARGET_DIR/<triple>/release/openclaw (target/... at
# the repository root by default); prints that path last on stdout. Installs
# what it needs on first use and reuses it after: the Rust target's std
# (rustup), zig and cargo-zigbuild (a venv under ~/.cache), and for targets
# without a musl std, Debian's cross gcc (apt-get). See targets.sh for which
# target is built how.
#
#   CROSS_CLEAN=1   delete the target's intermediate files after the build
#                   (deps/, build/, incremental/: 1-2 GB per target)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
# shellcheck source=targets.sh
source "$here/targets.sh"

[ $# -eq 1 ] || { echo "usage: $0 x86_64|aarch64|armv7|riscv64" >&2; exit 2; }
resolve_target "$1"
rustup_has_target "$TRIPLE" || { echo "rustup could not install the $TRIPLE std" >&2; exit 1; }
target_dir="${CARGO_TARGET_DIR:-$root/target}"
bin="$target_dir/$TRIPLE/release/openclaw"
echo "== $1: $TRIPLE ($LINKING)" >&2

# Pinned so a fresh machine builds with what the README's table was made with.
ZIG_VENV="$HOME/.cache/openclaw-cross-zig"
ZIGLANG_VERSION=0.17.1
ZIGBUILD_VERSION=0.24.1

start=$(date +%s)
case "$LINKING" in
  zig-musl)
    if ! "$ZIG_VENV/bin/cargo-zigbuild" --version 2>/dev/null | grep -q "$ZIGBUILD_VERSION" \
        || ! "$ZIG_VENV/bin/python3" -m ziglang version 2>/dev/null | grep -q "$ZIGLANG_VERSION"; then
      echo "== installing zig $ZIGLANG_VERSION and cargo-zigbuild $ZIGBUILD_VERSION into $ZIG_VENV" >&2
      python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
      python3 -m venv "$ZIG_VENV"
      "$ZIG_VENV/bin/pip" install -q "ziglang==$ZIGLANG_VERSION" "cargo-zigbuild==$ZIGBUILD_VERSION"
    fi
    # cargo-zigbuild runs zig as `python3 -m ziglang`: the venv's python first.
    PATH="$ZIG_VENV/bin:$PATH" nice -n 10 cargo zigbuild --release --locked \
      -p gateway-cli --bin openclaw --target "$TRIPLE"
    ;;
  gcc-static-glibc)
    apt_install "$GCC_PKG"
    triple_env=$(echo "$TRIPLE" | tr 'a-z-' 'A-Z_')
    triple_cc=$(echo "$TRIPLE" | tr '-' '_')
    # The C parts (bundled SQLite, ring) with the same cross gcc that links;
    # +crt-static links glibc in (per target: build scripts stay dynamic).
    env "CARGO_TARGET_${triple_env}_LINKER=$GCC_PREFIX-gcc" \
        "CARGO_TARGET_${triple_env}_RUSTFLAGS=-C target-feature=+crt-static" \
        "CC_${triple_cc}=$GCC_PREFIX-gcc" "AR_${triple_cc}=$GCC_PREFIX-ar" \
        nice -n 10 cargo build --release --locked \
        -p gateway-cli --bin openclaw --target "$TRIPLE"
    ;;
esac
seconds=$(( $(date +%s) - start ))

# Static means no program interpreter and no shared libraries to load.
if readelf -lW "$bin" | grep -q 'INTERP' || readelf -dW "$bin" | grep -q '(NEEDED)'; then
  echo "FAIL: $bin is dynamically linked:" >&2
  readelf -dW "$bin" | grep '(NEEDED)' >&2 || true
  exit 1
fi
if [ "${CROSS_CLEAN:-0}" = 1 ]; then
  rm -rf "$target_dir/$TRIPLE/release/deps" "$target_dir/$TRIPLE/release/build" \
    "$target_dir/$TRIPLE/release/incremental"
fi
echo "== $TRIPLE: static, $(stat -c %s "$bin") bytes, built in ${seconds} s" >&2
echo "$bin"

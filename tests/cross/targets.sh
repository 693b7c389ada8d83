# Sourced by build.sh and smoke.sh: maps a short target name to the Rust
# triple we build for it, how we build it, and the QEMU that runs it.
#
#   resolve_target NAME   sets TRIPLE, LINKING (zig-musl | gcc-static-glibc),
#                         QEMU (qemu-<arch>-static, empty for the host arch)
#
# musl where rustup can install the target's std: then `cargo zigbuild` links
# a static musl binary (zig's clang compiles SQLite and ring's C/asm for the
# target). Where it cannot (armv7 and riscv64 musl std were not downloadable
# here), the glibc triple is linked fully static (+crt-static) with Debian's
# cross gcc: the binary still needs nothing from the host at run time, except
# that glibc resolves host names through NSS modules it would load from the
# host, so DNS names (not IP literals) need the target's glibc installed.

rustup_has_target() {
  rustup target list --installed 2>/dev/null | grep -qx "$1" \
    || rustup target add "$1" >/dev/null 2>&1
}

resolve_target() {
  local musl gnu arch
  case "$1" in
    x86_64 | x86_64-*) musl=x86_64-unknown-linux-musl; gnu=x86_64-unknown-linux-gnu; arch=x86_64 ;;
    aarch64 | arm64 | aarch64-*) musl=aarch64-unknown-linux-musl; gnu=aarch64-unknown-linux-gnu; arch=aarch64 ;;
    armv7 | armv7-*) musl=armv7-unknown-linux-musleabihf; gnu=armv7-unknown-linux-gnueabihf; arch=arm ;;
    riscv64 | riscv64*) musl=riscv64gc-unknown-linux-musl; gnu=riscv64gc-unknown-linux-gnu; arch=riscv64 ;;
    *) echo "unknown target '$1' (x86_64, aarch64, armv7 or riscv64)" >&2; return 2 ;;
  esac
  case "$1" in
    *-gnu | *-gnueabihf) TRIPLE=$gnu ;;   # asked for by full triple
    *-musl | *-musleabihf) TRIPLE=$musl ;;
    *) if rustup_has_target "$musl"; then TRIPLE=$musl; else TRIPLE=$gnu; fi ;;
  esac
  case "$TRIPLE" in
    *musl*) LINKING=zig-musl ;;
    *) LINKING=gcc-static-glibc ;;
  esac
  if [ "$arch" = "$(uname -m)" ]; then QEMU=""; else QEMU="qemu-$arch-static"; fi
  # Debian's cross gcc for the glibc route (package, then compiler prefix).
  case "$arch" in
    aarch64) GCC_PKG=gcc-aarch64-linux-gnu; GCC_PREFIX=aarch64-linux-gnu ;;
    arm) GCC_PKG=gcc-arm-linux-gnueabihf; GCC_PREFIX=arm-linux-gnueabihf ;;
    riscv64) GCC_PKG=gcc-riscv64-linux-gnu; GCC_PREFIX=riscv64-linux-gnu ;;
    x86_64) GCC_PKG=gcc; GCC_PREFIX=x86_64-linux-gnu ;;
  esac
}

# apt_install PACKAGE...: installs the Debian packages not yet installed.
apt_install() {
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "== apt-get install ${missing[*]}" >&2
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
}

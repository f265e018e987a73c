#!/usr/bin/env bash
# Prints the directory cargo builds this workspace into, as cargo itself resolves it: target/
# at the root, or $CARGO_TARGET_DIR (a relative one taken from the current directory, as cargo
# takes it), or a cargo config's build.target-dir. Scripts that run built binaries take their
# paths from here, not from target/.
#
#   cli="$(tools/target-dir.sh)/debug/kafka-retry"
#
# Needs only cargo: the path is read from `cargo metadata` with sed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
metadata="$(cargo metadata --format-version 1 --no-deps --manifest-path "${root}/Cargo.toml")"
# The JSON string's content, then its escapes (\" \\ \/) undone.
dir="$(sed -nE 's/.*"target_directory":"(([^"\\]|\\.)*)".*/\1/p' <<<"${metadata}" |
    sed -E 's/\\(.)/\1/g')"
[[ -n "${dir}" ]] || {
    echo "target-dir.sh: cargo metadata named no target_directory" >&2
    exit 1
}
printf '%s\n' "${dir}"

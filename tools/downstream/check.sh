#!/usr/bin/env bash
# A service outside this workspace, depending on retry-runtime with feature `embedded` as
# users do, gets the patched broker (vendor/README.md), not crates.io's tansu: this
# workspace's lock file and settings reach no such build.
#
#   tools/downstream/check.sh
#
# Copies tools/downstream/service/ to a temporary directory, with retry-runtime as a path
# dependency and this workspace's Cargo.lock (so it builds the versions the workspace tests),
# then:
# 1. fails unless its tansu crates are the ones the workspace builds retry-runtime with (a
#    [patch] in the workspace, for one, reaches no other build), one copy of each library;
# 2. builds it and runs its kill -9 recovery: the embedded broker in one process, two
#    replicas of the app in others; one replica is killed with SIGKILL while orders arrive
#    and restarted, and every order must be handled within 60 s of the restart.
# It builds into this workspace's target directory (tools/target-dir.sh: target/,
# $CARGO_TARGET_DIR or a cargo config's), so what it shares with the workspace's build,
# librdkafka's C build among it, is compiled once.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../.." && pwd)"
CARGO_TARGET_DIR="$("${root}/tools/target-dir.sh")"
export CARGO_TARGET_DIR

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
mkdir "${work}/service"
cp -R "${here}/service/src" "${work}/service/src"
sed "s#path = \"../../../retry-runtime\"#path = \"${root}/retry-runtime\"#" \
    "${here}/service/Cargo.toml" >"${work}/service/Cargo.toml"
grep -q "path = \"${root}/retry-runtime\"" "${work}/service/Cargo.toml" ||
    { echo "check.sh: the service's retry-runtime dependency was not rewritten" >&2; exit 1; }
cp "${root}/Cargo.lock" "${work}/service/Cargo.lock"
manifest="${work}/service/Cargo.toml"

# The tansu crates of a build, as "library package", one a line.
tansu_crates() {
    cargo tree "$@" --edges normal,build --prefix none --format '{lib} {p}' |
        sed 's/ (\*)$//' | grep -E '^tansu_' | sort -u
}
ours="$(tansu_crates --manifest-path "${root}/Cargo.toml" -p retry-runtime --features embedded)"
theirs="$(tansu_crates --manifest-path "${manifest}")"
if [[ "${theirs}" != "${ours}" ]]; then
    echo "check.sh: the service's tansu crates (>) are not the ones this workspace tests (<):" >&2
    diff <(echo "${ours}") <(echo "${theirs}") >&2 || true
    exit 1
fi
twice="$(cut -d' ' -f1 <<<"${theirs}" | uniq -d)"
if [[ -n "${twice}" ]]; then
    echo "check.sh: two copies of ${twice//$'\n'/, } in the service's build" >&2
    exit 1
fi

cargo build --manifest-path "${manifest}"
if ! "${CARGO_TARGET_DIR}/debug/embedded-user" check "${work}"; then
    for log in "${work}"/replica-*.log; do
        echo "check.sh: the end of ${log##*/}:" >&2
        tail -n 30 "${log}" >&2
    done
    exit 1
fi

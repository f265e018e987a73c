#!/usr/bin/env bash
# The end-to-end suite against real Apache Kafka: starts a broker with tools/kafka/kafka.sh,
# runs `cargo test -p e2e` with KAFKA_BOOTSTRAP_SERVERS pointing at it, and always stops the
# broker again, also when the tests fail or the run is interrupted. The suite runs twice: with
# the classic consumer group protocol, then with KIP-848's (group.protocol=consumer).
#
#   tools/kafka/test-suites.sh [--nodes 1|3] [more `cargo test` arguments]
#
# Needs a JDK 17+ and, on the first run, Maven (see kafka.sh).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "${here}/../.."

nodes=1
if [[ "${1:-}" == --nodes ]]; then
    [[ $# -ge 2 ]] || {
        echo "test-suites.sh: --nodes needs 1 or 3" >&2
        exit 2
    }
    nodes="$2"
    shift 2
fi

# Only ever stop the broker this script started.
unset KAFKA_HARNESS_DIR KAFKA_BOOTSTRAP_SERVERS
stop_broker() {
    if [[ -n "${KAFKA_HARNESS_DIR:-}" ]]; then
        "${here}/kafka.sh" stop || true
    fi
}
trap stop_broker EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

exports="$("${here}/kafka.sh" start --nodes "${nodes}")"
eval "${exports}"
echo "test-suites.sh: cargo test -p e2e against Apache Kafka at ${KAFKA_BOOTSTRAP_SERVERS}" >&2
cargo test -p e2e "$@"
# Again with the consumer group protocol of KIP-848 (always cooperative, assignment on the
# broker), which the embedded broker does not serve.
echo "test-suites.sh: the same with group.protocol=consumer (KIP-848)" >&2
KAFKA_GROUP_PROTOCOL=consumer cargo test -p e2e "$@"

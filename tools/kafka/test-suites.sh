#!/usr/bin/env bash
# The suites against the reference implementations: starts Apache Kafka with
# tools/kafka/kafka.sh, runs the end-to-end suite (`cargo test -p e2e`) against it twice (the
# classic consumer group protocol, then KIP-848's group.protocol=consumer), then the interop
# tests with the Spring Kafka items service of interop/ (built here with Maven), once on each
# Spring generation: Spring Boot 3.5 / spring-kafka 3.3 (interop/pom.xml), then Spring Boot 4.1 /
# spring-kafka 4.1 (interop/boot4/pom.xml). The broker is always stopped again, also when the
# tests fail or the run is interrupted.
#
#   tools/kafka/test-suites.sh [--nodes 1|3] [more `cargo test` arguments for the e2e suite]
#
# Needs a JDK 17+ and Maven (Apache Kafka and Spring come from Maven Central, cached in ~/.m2).
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

# Where cargo puts the kafka-retry binary the interop tests run (target/ or CARGO_TARGET_DIR),
# asked before a broker starts.
target_dir="$("${here}/../target-dir.sh")"

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
# A running Spring Kafka service and the Rust one sharing topics, groups and retry chains, on
# each Spring generation in turn.
echo "test-suites.sh: building the Spring Kafka items service (interop/, both generations)" >&2
mvn -q -B -f interop/pom.xml package -DskipTests
mvn -q -B -f interop/boot4/pom.xml package -DskipTests
cargo build -p kafka-retry
for generation in "3.3 interop/target" "4.1 interop/boot4/target"; do
    read -r version jar_dir <<<"${generation}"
    echo "test-suites.sh: interop tests with the Spring Kafka ${version} service" >&2
    SPRING_ITEMS_JAR="$PWD/${jar_dir}/items-spring.jar" \
        KAFKA_RETRY_CLI="${target_dir}/debug/kafka-retry" \
        cargo test -p e2e --features interop --test interop
done

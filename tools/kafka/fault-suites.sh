#!/usr/bin/env bash
# The fault scenarios that matter most on real Apache Kafka (each on a fresh broker that
# tools/kafka/kafka.sh starts and stops): kill -9 of the app with static membership and under
# cooperative rebalancing, one broker of three killed and restarted, a retry topic and a DLT
# whose max.message.bytes is below the main topic's, poison headers, keys, values and
# timestamps, the key-order oracle (`ordering = "key"` under kill -9 and cooperative
# rebalancing, about 80 s), and kill -9 under KIP-848's consumer group protocol. The whole
# suite, on either broker: cargo run --release -p retry-bench --bin retry-faults
#
#   tools/kafka/fault-suites.sh
#
# Needs a JDK 17+ and Maven (see kafka.sh).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "${here}/../.."

# Where cargo puts the binaries (target/ or CARGO_TARGET_DIR).
target_dir="$("${here}/../target-dir.sh")"
cargo build -p retry-bench --bin retry-faults
# The poison scenario replays its DLT with the kafka-retry command built beside the suite.
cargo build -p kafka-retry
faults=("${target_dir}/debug/retry-faults" --broker kafka)
for scenario in kill-static kill-coop broker-restart size poison key-order; do
    echo "fault-suites.sh: ${scenario} on Apache Kafka" >&2
    "${faults[@]}" "${scenario}"
done
# KIP-848: the broker expires a killed member's session (45 s by default), so fewer kills.
echo "fault-suites.sh: kill with group.protocol=consumer (KIP-848) on Apache Kafka" >&2
KAFKA_GROUP_PROTOCOL=consumer "${faults[@]}" --kills 4 kill

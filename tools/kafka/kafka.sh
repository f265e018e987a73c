#!/usr/bin/env bash
# Real Apache Kafka (KRaft) on 127.0.0.1 for the end-to-end and fault suites.
#
#   eval "$(tools/kafka/kafka.sh start [--nodes 1|3])"   # exports KAFKA_BOOTSTRAP_SERVERS, KAFKA_HARNESS_DIR
#   tools/kafka/kafka.sh status
#   tools/kafka/kafka.sh kill-node N | stop-node N | start-node N
#   tools/kafka/kafka.sh stop                            # all nodes; removes the data
#
# Needs a JDK 17+ (java, javac) and, on the first run only, Maven: the broker comes from Maven
# Central through tools/kafka/pom.xml. The resolved classpath and the compiled helper
# (KafkaHarness.java) are cached under target/kafka-harness/, keyed on the pom's and the
# helper's contents, so later runs start without Maven; the jars stay in ~/.m2.
#
# Environment:
#   KAFKA_VERSION              another Kafka release than the pom's (e.g. 4.1.2)
#   KAFKA_HARNESS_HEAP         broker heap, default 512m
#   KAFKA_HARNESS_JAVA_OPTS    extra JVM options for the brokers
#   KAFKA_HARNESS_TIMEOUT      seconds to wait for readiness, default 90
#   KAFKA_HARNESS_CACHE        cache directory, default <repo>/target/kafka-harness
#   KAFKA_HARNESS_DIR          the running harness (set by start; used by the other commands)
#
# Only stdout of `start` is meant for eval; progress goes to stderr. Every socket is bound to
# 127.0.0.1.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache_root="${KAFKA_HARNESS_CACHE:-$root/target/kafka-harness}"
heap="${KAFKA_HARNESS_HEAP:-512m}"
ready_timeout="${KAFKA_HARNESS_TIMEOUT:-90}"
stop_timeout=20
marker=".kafka-harness"

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

usage() {
    sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

now_ms() { date +%s%3N; }

require_jdk() {
    command -v java >/dev/null 2>&1 ||
        die "java not found: install a JDK 17 or newer (Debian/Ubuntu: apt-get install openjdk-17-jdk-headless)"
    command -v javac >/dev/null 2>&1 ||
        die "javac not found: install a JDK 17 or newer, not only a JRE (Debian/Ubuntu: apt-get install openjdk-17-jdk-headless)"
}

hash_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum | cut -c1-16
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 | cut -c1-16
    else
        cksum | tr -d ' '
    fi
}

# Sets `classpath` (jars, then the compiled helper) and `kafka_version`; resolves with Maven
# only when the cache misses or a cached jar disappeared from ~/.m2.
resolve_classpath() {
    local key dir jars jar ok=1 started tmp
    key="$(cat "$here/pom.xml" "$here/KafkaHarness.java" <(printf '%s' "${KAFKA_VERSION:-}") | hash_of)"
    dir="$cache_root/$key"
    if [[ -f "$dir/classpath" && -f "$dir/classes/KafkaHarness.class" ]]; then
        IFS=: read -ra jars <"$dir/classpath" || true # no final newline
        for jar in "${jars[@]}"; do
            [[ -f "$jar" ]] || ok=0
        done
    else
        ok=0
    fi
    if ((!ok)); then
        command -v mvn >/dev/null 2>&1 ||
            die "mvn not found: install Maven 3.6+ (Debian/Ubuntu: apt-get install maven); it fetches Apache Kafka from Maven Central once"
        started="$(now_ms)"
        log "resolving Apache Kafka ${KAFKA_VERSION:-from tools/kafka/pom.xml} with Maven (first run only)"
        mkdir -p "$dir"
        tmp="$dir/classpath.$$"
        local version_arg=()
        [[ -n "${KAFKA_VERSION:-}" ]] && version_arg=("-Dkafka.version=$KAFKA_VERSION")
        mvn -q -B -f "$here/pom.xml" "${version_arg[@]}" dependency:build-classpath \
            -Dmdep.includeScope=runtime "-Dmdep.outputFile=$tmp" >&2 ||
            die "Maven could not resolve the broker (see above); is Maven Central reachable?"
        rm -rf "$dir/classes.$$"
        mkdir -p "$dir/classes.$$"
        javac -nowarn -cp "$(cat "$tmp")" -d "$dir/classes.$$" "$here/KafkaHarness.java" >&2 ||
            die "compiling tools/kafka/KafkaHarness.java failed"
        rm -rf "$dir/classes"
        mv "$dir/classes.$$" "$dir/classes"
        mv "$tmp" "$dir/classpath"
        log "resolved in $(($(now_ms) - started)) ms, cached in $dir"
    fi
    classpath="$(cat "$dir/classpath"):$dir/classes"
    kafka_version="$(tr ':' '\n' <"$dir/classpath" | sed -n 's#.*/kafka_2\.13-\(.*\)\.jar$#\1#p' | head -n1)"
}

# A random Kafka Uuid (16 bytes, URL-safe base64 without padding), not starting with '-'
# as Kafka's own Uuid.randomUuid() avoids.
new_uuid() {
    local id
    while :; do
        id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
        [[ "$id" == -* ]] || break
    done
    printf '%s' "$id"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Prints N distinct ports nothing listens on, below the kernel's ephemeral range.
free_ports() {
    local n="$1" port taken=" " found=0
    while ((found < n)); do
        port=$((20000 + RANDOM % 12000))
        [[ "$taken" == *" $port "* ]] && continue
        port_in_use "$port" && continue
        taken+="$port "
        found=$((found + 1))
        printf '%s\n' "$port"
    done
}

# ---- the harness directory ----------------------------------------------------------------

harness_dir() {
    local dir="${opt_dir:-${KAFKA_HARNESS_DIR:-}}"
    [[ -n "$dir" ]] || die "no running harness: set KAFKA_HARNESS_DIR (eval the output of 'start') or pass --dir"
    [[ -f "$dir/$marker" ]] || die "$dir is not a kafka.sh harness directory (no $marker)"
    printf '%s' "$dir"
}

# Loads nodes, cluster_id, ports[], controller_ports[] from the harness directory.
load_state() {
    local dir="$1"
    # shellcheck source=/dev/null
    source "$dir/$marker"
}

node_dir() { printf '%s/node%s' "$1" "$2"; }

# Whether process PID exists and is not a zombie waiting for its parent to reap it.
alive() {
    local state=""
    kill -0 "$1" 2>/dev/null || return 1
    if [[ -r "/proc/$1/stat" ]]; then
        state="$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null || true)"
    fi
    [[ "${state}" != Z ]]
}

# The pid of node N if that process is alive and is that node's broker, else nothing.
node_pid() {
    local nd pid cmd
    nd="$(node_dir "$1" "$2")"
    [[ -f "$nd/pid" ]] || return 0
    pid="$(cat "$nd/pid")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 0
    alive "$pid" || return 0
    if [[ -r "/proc/$pid/cmdline" ]]; then
        cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
    else
        cmd="$(ps -o args= -p "$pid" 2>/dev/null || true)"
    fi
    [[ "$cmd" == *"$nd/server.properties"* ]] && printf '%s' "$pid"
    return 0
}

write_config() {
    local dir="$1" n="$2" nodes="$3" voters="$4" nd rf min_isr
    nd="$(node_dir "$dir" "$n")"
    mkdir -p "$nd/data"
    if ((nodes >= 3)); then
        rf=3
        min_isr=2
    else
        rf=1
        min_isr=1
    fi
    cat >"$nd/server.properties" <<EOF
# kafka.sh: node $n of $nodes, combined broker and controller (KRaft).
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:${ports[n - 1]},CONTROLLER://127.0.0.1:${controller_ports[n - 1]}
advertised.listeners=PLAINTEXT://127.0.0.1:${ports[n - 1]}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$nd/data

# Strict like a production cluster: topics exist only when created.
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=$min_isr

# Internal topics sized for the cluster.
offsets.topic.replication.factor=$rf
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$min_isr
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$min_isr

# Groups: no initial rebalance delay. group.coordinator.rebalance.protocols keeps its 4.x
# default, which enables both the classic and the consumer (KIP-848) protocol.
group.initial.rebalance.delay.ms=0
group.streams.initial.rebalance.delay.ms=0
EOF
}

write_log_config() {
    cat >"$1/log4j2.properties" <<'EOF'
# kafka.sh: warnings and errors to the node's node.log; the start and stop lines too.
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.harness.log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.file.ref = FILE
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = INFO
EOF
}

launch_node() {
    local dir="$1" n="$2" nd
    nd="$(node_dir "$dir" "$n")"
    local opts=(
        "-Xms128m" "-Xmx$heap"
        -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError
        -Djava.awt.headless=true
        "-Dlog4j2.configurationFile=$dir/log4j2.properties"
        "-Dkafka.harness.log=$nd/node.log"
    )
    if [[ -n "${KAFKA_HARNESS_JAVA_OPTS:-}" ]]; then
        local extra
        read -ra extra <<<"$KAFKA_HARNESS_JAVA_OPTS"
        opts+=("${extra[@]}")
    fi
    # setsid: the broker outlives this script and the caller's terminal signals; its own
    # stdout and stderr go to console.log so `eval "$(kafka.sh start)"` returns.
    setsid java "${opts[@]}" -cp "$(cat "$dir/classpath")" \
        KafkaHarness "$cluster_id" "$nd/server.properties" \
        </dev/null >>"$nd/console.log" 2>&1 &
    local pid=$! tries=0
    printf '%s\n' "$pid" >"$nd/pid"
    # The child is bash until it has exec'd setsid and then java; wait for that so the
    # liveness checks, which match the command line, recognise it.
    while [[ -z "$(node_pid "$dir" "$n")" ]] && alive "$pid" && ((tries < 100)); do
        sleep 0.02
        tries=$((tries + 1))
    done
}

bootstrap_of() {
    local IFS=,
    local list=()
    local p
    for p in "${ports[@]}"; do list+=("127.0.0.1:$p"); done
    printf '%s' "${list[*]}"
}

# Prints the ids of the brokers that the node on 127.0.0.1:PORT lists as alive (registered and
# unfenced), space-separated, from a Metadata request; fails when it does not answer in time.
metadata_brokers() {
    local port="$1" LC_ALL=C fd c i size n count len
    local bytes=() ids=()
    exec {fd}<>"/dev/tcp/127.0.0.1/${port}" || return 1
    # Metadata v4 (the oldest that Kafka 4 serves), request header v1: size 23, api key 3,
    # version 4, correlation id 1, client id "kafka.sh", topics null (none listed), no
    # auto-creation.
    printf '\x00\x00\x00\x17\x00\x03\x00\x04\x00\x00\x00\x01\x00\x08kafka.sh\xff\xff\xff\xff\x00' >&"${fd}"
    # Bytes one at a time; a NUL byte reads as an empty string.
    for ((i = 0; i < 4 || i < size + 4; i++)); do
        if ! IFS= read -r -d '' -n 1 -t 3 c <&"${fd}"; then
            exec {fd}>&-
            return 1
        fi
        printf -v c '%d' "'${c}"
        bytes+=("${c}")
        if ((i == 3)); then
            size=$(((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]))
            ((size > 12 && size < 1048576)) || {
                exec {fd}>&-
                return 1
            }
        fi
    done
    exec {fd}>&-
    # size, correlation id, throttle time, then the broker array: node id, host, port, rack.
    i=12
    count=$(((bytes[i] << 24) | (bytes[i + 1] << 16) | (bytes[i + 2] << 8) | bytes[i + 3]))
    i=$((i + 4))
    for ((n = 0; n < count && i + 4 <= size + 4; n++)); do
        ids+=("$(((bytes[i] << 24) | (bytes[i + 1] << 16) | (bytes[i + 2] << 8) | bytes[i + 3]))")
        len=$(((bytes[i + 4] << 8) | bytes[i + 5]))
        i=$((i + 6 + len + 4))
        len=$(((bytes[i] << 8) | bytes[i + 1]))
        ((len == 65535)) && len=0
        i=$((i + 2 + len))
    done
    printf '%s\n' "${ids[*]}"
}

# Waits until every node in `ids` (space-separated) answers metadata requests and lists all
# of them as alive brokers; fails early when one of them exits.
wait_ready() {
    local dir="$1" deadline n m seen last="no answer yet" ok
    local want=()
    read -ra want <<<"$2"
    deadline=$((SECONDS + ready_timeout))
    while ((SECONDS < deadline)); do
        ok=1
        for n in "${want[@]}"; do
            if [[ -z "$(node_pid "${dir}" "${n}")" ]]; then
                log "node ${n} exited during start-up"
                return 1
            fi
        done
        for n in "${want[@]}"; do
            if ! seen="$(metadata_brokers "${ports[n - 1]}" 2>/dev/null)"; then
                ok=0
                last="node ${n} does not answer yet"
                break
            fi
            for m in "${want[@]}"; do
                if [[ " ${seen} " != *" ${m} "* ]]; then
                    ok=0
                    last="node ${n} lists alive brokers [${seen}], waiting for [${want[*]}]"
                    break 2
                fi
            done
        done
        if ((ok)); then
            log "ready: every node lists alive brokers [${want[*]}]"
            return 0
        fi
        sleep 0.1
    done
    log "not ready after ${ready_timeout}s: ${last}"
    return 1
}

show_logs() {
    local dir="$1" n nd f
    for ((n = 1; n <= nodes; n++)); do
        nd="$(node_dir "$dir" "$n")"
        for f in console.log node.log; do
            [[ -s "$nd/$f" ]] || continue
            log "---- node $n: last lines of $nd/$f"
            tail -n 25 "$nd/$f" >&2
        done
    done
}

# Sends `signal` to the given nodes at once, waits up to `stop_timeout` s, then SIGKILLs the
# rest and waits for them too.
terminate_nodes() {
    local dir="$1" signal="$2"
    shift 2
    local n pid ticks=0 killed=0
    local pids=() left=()
    for n in "$@"; do
        pid="$(node_pid "$dir" "$n")"
        [[ -n "$pid" ]] || continue
        kill "-$signal" "$pid" 2>/dev/null || true
        pids+=("$pid")
    done
    while :; do
        left=()
        for pid in "${pids[@]}"; do
            if alive "$pid"; then left+=("$pid"); fi
        done
        ((${#left[@]} > 0)) || break
        if ((!killed && ticks >= stop_timeout * 10)); then
            log "still running after ${stop_timeout}s, sending SIGKILL to ${left[*]}"
            kill -KILL "${left[@]}" 2>/dev/null || true
            killed=1
        elif ((killed && ticks >= (stop_timeout + 10) * 10)); then
            die "processes ${left[*]} survived SIGKILL"
        fi
        sleep 0.1
        ticks=$((ticks + 1))
    done
    for n in "$@"; do rm -f "$(node_dir "$dir" "$n")/pid"; done
}

# ---- commands -----------------------------------------------------------------------------

cmd_start() {
    local attempt started dir n voters ids
    [[ "$opt_nodes" == 1 || "$opt_nodes" == 3 ]] || die "--nodes must be 1 or 3"
    require_jdk
    started="$(now_ms)"
    resolve_classpath
    nodes="$opt_nodes"
    for attempt in 1 2 3; do
        ((attempt == 1)) || log "attempt $attempt"
        dir="$(mktemp -d "${TMPDIR:-/tmp}/kafka-harness.XXXXXX")"
        cluster_id="$(new_uuid)"
        mapfile -t all_ports < <(free_ports $((2 * nodes)))
        ports=("${all_ports[@]:0:nodes}")
        controller_ports=("${all_ports[@]:nodes}")
        voters=""
        ids=""
        for ((n = 1; n <= nodes; n++)); do
            voters+="${voters:+,}$n@127.0.0.1:${controller_ports[n - 1]}"
            ids+="${ids:+ }$n"
        done
        {
            printf 'nodes=%s\n' "$nodes"
            printf 'cluster_id=%s\n' "$cluster_id"
            printf 'kafka_version=%s\n' "$kafka_version"
            printf 'ports=(%s)\n' "${ports[*]}"
            printf 'controller_ports=(%s)\n' "${controller_ports[*]}"
        } >"$dir/$marker"
        printf '%s\n' "$classpath" >"$dir/classpath"
        write_log_config "$dir"
        for ((n = 1; n <= nodes; n++)); do write_config "$dir" "$n" "$nodes" "$voters"; done
        log "starting Apache Kafka $kafka_version: $nodes node(s) on $(bootstrap_of), in $dir"
        for ((n = 1; n <= nodes; n++)); do launch_node "$dir" "$n"; done
        if wait_ready "$dir" "$ids"; then
            log "ready in $(($(now_ms) - started)) ms"
            printf 'export KAFKA_BOOTSTRAP_SERVERS=%q\n' "$(bootstrap_of)"
            printf 'export KAFKA_HARNESS_DIR=%q\n' "$dir"
            return 0
        fi
        show_logs "$dir"
        # shellcheck disable=SC2046
        terminate_nodes "$dir" KILL $(seq 1 "$nodes")
        if grep -qs "Address already in use" "$dir"/node*/node.log "$dir"/node*/console.log; then
            log "a port was taken meanwhile; retrying with other ports"
            rm -rf "$dir"
            continue
        fi
        log "data and logs kept in $dir"
        die "Kafka did not become ready within ${ready_timeout}s (node logs above)"
    done
    die "no free ports after 3 attempts"
}

cmd_stop() {
    local dir started
    dir="$(harness_dir)"
    load_state "$dir"
    started="$(now_ms)"
    # shellcheck disable=SC2046
    terminate_nodes "$dir" TERM $(seq 1 "$nodes")
    rm -rf "$dir"
    log "stopped in $(($(now_ms) - started)) ms, removed $dir"
}

node_arg() {
    if ! [[ "$opt_node" =~ ^[0-9]+$ ]] || ((opt_node < 1 || opt_node > nodes)); then
        die "node must be a number from 1 to $nodes"
    fi
}

cmd_kill_node() {
    local dir
    dir="$(harness_dir)"
    load_state "$dir"
    node_arg
    [[ -n "$(node_pid "$dir" "$opt_node")" ]] || die "node $opt_node is not running"
    terminate_nodes "$dir" KILL "$opt_node"
    log "node $opt_node killed (SIGKILL)"
}

cmd_stop_node() {
    local dir started
    dir="$(harness_dir)"
    load_state "$dir"
    node_arg
    [[ -n "$(node_pid "$dir" "$opt_node")" ]] || die "node $opt_node is not running"
    started="$(now_ms)"
    terminate_nodes "$dir" TERM "$opt_node"
    log "node $opt_node stopped in $(($(now_ms) - started)) ms"
}

cmd_start_node() {
    local dir started n ids=""
    dir="$(harness_dir)"
    load_state "$dir"
    node_arg
    [[ -z "$(node_pid "$dir" "$opt_node")" ]] || die "node $opt_node is already running"
    require_jdk
    started="$(now_ms)"
    launch_node "$dir" "$opt_node"
    for ((n = 1; n <= nodes; n++)); do
        [[ -n "$(node_pid "$dir" "$n")" ]] && ids+="${ids:+ }$n"
    done
    if ! wait_ready "$dir" "$ids"; then
        show_logs "$dir"
        die "node $opt_node did not come back within ${ready_timeout}s"
    fi
    log "node $opt_node is back on 127.0.0.1:${ports[opt_node - 1]} in $(($(now_ms) - started)) ms"
}

cmd_status() {
    local dir n pid
    dir="$(harness_dir)"
    load_state "$dir"
    printf 'Apache Kafka %s, cluster %s, %s\n' "$kafka_version" "$cluster_id" "$dir"
    for ((n = 1; n <= nodes; n++)); do
        pid="$(node_pid "$dir" "$n")"
        if [[ -n "$pid" ]]; then
            printf 'node %s  127.0.0.1:%s  running (pid %s)\n' "$n" "${ports[n - 1]}" "$pid"
        else
            printf 'node %s  127.0.0.1:%s  down\n' "$n" "${ports[n - 1]}"
        fi
    done
}

# ---- arguments ----------------------------------------------------------------------------

opt_nodes=1
opt_dir=""
opt_node=""
command="${1:-}"
[[ -n "$command" ]] || usage
shift
case "$command" in
kill-node | stop-node | start-node)
    [[ $# -ge 1 ]] || usage
    opt_node="$1"
    shift
    ;;
esac
while (($#)); do
    case "$1" in
    --nodes)
        [[ $# -ge 2 ]] || usage
        opt_nodes="$2"
        shift 2
        ;;
    --dir)
        [[ $# -ge 2 ]] || usage
        opt_dir="$2"
        shift 2
        ;;
    -h | --help) usage ;;
    *) die "unknown argument: $1" ;;
    esac
done

case "$command" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
kill-node) cmd_kill_node ;;
stop-node) cmd_stop_node ;;
start-node) cmd_start_node ;;
-h | --help | help) usage ;;
*) die "unknown command: $command (start, stop, status, kill-node N, stop-node N, start-node N)" ;;
esac

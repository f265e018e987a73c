package kafkaretry.peers;

import java.lang.management.ManagementFactory;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What the Java peers do with a delivery, and what they report: the same work as the Rust
 * listener of the same workload, counted the same way. Configured from the environment
 * (PEER_WORKLOAD, PEER_RECORDS); prints `PEER-DONE {json}` on stderr once the workload is done.
 */
public final class Tally {
    /** The workloads of the comparison. */
    public enum Workload {
        /** Every record succeeds. */
        HAPPY,
        /** Every tenth record (by its numeric key) fails once and succeeds on its 1 s retry. */
        FAILING10,
        /** Every record fails four times (1 s, 2 s, 4 s apart) and ends in the DLT. */
        DLT,
        /** Every call sleeps 5 ms, a blocking call standing for a database. */
        IO5MS
    }

    private static final com.sun.management.OperatingSystemMXBean OS =
            (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();

    private final Workload workload;
    private final long records;
    private final long failing;
    private final AtomicLong main = new AtomicLong();
    private final AtomicLong retried = new AtomicLong();
    private final AtomicLong dead = new AtomicLong();
    private final AtomicBoolean started = new AtomicBoolean();
    private final AtomicBoolean done = new AtomicBoolean();
    private final AtomicLong lastMainNanos = new AtomicLong();
    private final List<Long> latenessMs = new ArrayList<>();
    private volatile long firstNanos;
    private volatile long firstEpochMs;
    private volatile long cpuAtFirstNanos;

    /** A tally of `records` records of `workload`. */
    public Tally(Workload workload, long records) {
        this.workload = workload;
        this.records = records;
        this.failing = (records + 9) / 10;
        OS.getProcessCpuTime();
    }

    /** The tally the environment describes. */
    public static Tally fromEnv(Map<String, String> env) {
        return new Tally(workloadOf(env.get("PEER_WORKLOAD")), Long.parseLong(env.get("PEER_RECORDS")));
    }

    /** The workload named `name` (`happy`, `failing10`, `dlt`, `io5ms`). */
    public static Workload workloadOf(String name) {
        return Workload.valueOf(name.toUpperCase());
    }

    /** This tally's workload. */
    public Workload workload() {
        return workload;
    }

    /**
     * Handles one delivery of the record keyed `key`: `dueMs` is a retry's due time (epoch ms),
     * or -1 for a delivery from the main topic. Throws to fail the delivery.
     */
    public void handle(String key, long dueMs) throws Exception {
        if (dueMs < 0) {
            if (workload == Workload.IO5MS) {
                Thread.sleep(5);
            }
            mainRecord();
            if (workload == Workload.DLT || (workload == Workload.FAILING10 && failsOnce(key))) {
                throw new IllegalStateException("fails");
            }
            return;
        }
        long late = System.currentTimeMillis() - dueMs;
        synchronized (latenessMs) {
            latenessMs.add(late);
        }
        if (workload == Workload.DLT) {
            throw new IllegalStateException("fails again");
        }
        retried.incrementAndGet();
        checkDone();
    }

    /**
     * Counts a record handled to its end by a peer that retries in memory (the keyed scenario's
     * Parallel Consumer): a tally of the happy workload is done once `records` succeeded, its
     * window running from the first success to the last.
     */
    public void succeeded() {
        mainRecord();
    }

    /** Counts a dead letter. */
    public void deadLetter() {
        dead.incrementAndGet();
        checkDone();
    }

    /** The due time a `retry_topic-backoff-timestamp` header gives (Spring's big-endian bytes of any length). */
    public static long dueOf(byte[] header) {
        return header == null ? -1 : new BigInteger(header).longValue();
    }

    private static boolean failsOnce(String key) {
        try {
            return Long.parseLong(key) % 10 == 0;
        } catch (NumberFormatException e) {
            return false;
        }
    }

    private void mainRecord() {
        long now = System.nanoTime();
        if (started.compareAndSet(false, true)) {
            cpuAtFirstNanos = OS.getProcessCpuTime();
            firstEpochMs = System.currentTimeMillis();
            firstNanos = now;
        }
        lastMainNanos.accumulateAndGet(now, Math::max);
        main.incrementAndGet();
        checkDone();
    }

    private boolean finished() {
        return switch (workload) {
            case HAPPY, IO5MS -> main.get() >= records;
            case FAILING10 -> main.get() >= records && retried.get() >= failing;
            case DLT -> dead.get() >= records;
        };
    }

    private void checkDone() {
        if (!finished() || !done.compareAndSet(false, true)) {
            return;
        }
        double cpuS = (OS.getProcessCpuTime() - cpuAtFirstNanos) / 1e9;
        double windowS = (lastMainNanos.get() - firstNanos) / 1e9;
        StringBuilder json = new StringBuilder("PEER-DONE {");
        json.append("\"first_epoch_ms\":").append(firstEpochMs);
        json.append(",\"main_records\":").append(main.get());
        json.append(",\"main_window_s\":").append(windowS);
        json.append(",\"cpu_s\":").append(cpuS);
        json.append(",\"lateness_ms\":[");
        synchronized (latenessMs) {
            for (int i = 0; i < latenessMs.size(); i++) {
                json.append(i == 0 ? "" : ",").append(latenessMs.get(i));
            }
        }
        json.append("]}");
        say(json.toString());
    }

    /** Prints a line of the protocol the benchmark reads (`PEER-READY`, `PEER-DONE {json}`) on stderr: stdout is the log. */
    public static void say(String line) {
        synchronized (System.err) {
            System.err.println(line);
            System.err.flush();
        }
    }
}

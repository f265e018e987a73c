package kafkaretry.peers;

import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicBoolean;

import io.confluent.parallelconsumer.ParallelConsumerOptions;
import io.confluent.parallelconsumer.ParallelConsumerOptions.ProcessingOrder;
import io.confluent.parallelconsumer.ParallelStreamProcessor;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Confluent's Parallel Consumer in the keyed scenario, as its users write it: KEY ordering,
 * `maxConcurrency` handler threads of its own, each call a blocking 5 ms sleep standing for a
 * database, a failing record thrown from the handler and retried in memory after the default 1 s.
 * A record fails on its first attempt when its offset is a multiple of 100 / PEER_FAILING_PERCENT,
 * as the Rust listener decides. Prints `PEER-READY` once its consumer has partitions and
 * `PEER-DONE {json}` once every record succeeded. Configured from the environment:
 * KAFKA_BOOTSTRAP_SERVERS, PEER_TOPIC (also its group), PEER_RECORDS, PEER_CONCURRENCY,
 * PEER_FAILING_PERCENT.
 */
public final class ParallelConsumerPeer {
    private ParallelConsumerPeer() {
    }

    public static void main(String[] args) {
        Map<String, String> env = System.getenv();
        String topic = env.get("PEER_TOPIC");
        int concurrency = Integer.parseInt(env.get("PEER_CONCURRENCY"));
        int failingPercent = Integer.parseInt(env.get("PEER_FAILING_PERCENT"));
        Tally tally = new Tally(Tally.Workload.HAPPY, Long.parseLong(env.get("PEER_RECORDS")));
        ParallelConsumerOptions<String, String> options = ParallelConsumerOptions.<String, String>builder()
                .consumer(consumer(env.get("KAFKA_BOOTSTRAP_SERVERS"), topic))
                .ordering(ProcessingOrder.KEY)
                .maxConcurrency(concurrency)
                .defaultMessageRetryDelay(Duration.ofSeconds(1))
                // Its check that the consumer does not auto-commit reads a field of kafka-clients
                // 3.7's consumer that 3.9's does not have; the consumer below does not.
                .ignoreReflectiveAccessExceptionsForAutoCommitDisabledCheck(true)
                .build();
        ParallelStreamProcessor<String, String> processor = ParallelStreamProcessor.createEosStreamProcessor(options);
        processor.subscribe(List.of(topic), new Readiness());
        processor.poll(context -> {
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted", e);
            }
            var record = context.getSingleRecord();
            if (record.getNumberOfFailedAttempts() == 0 && failsOnce(record.offset(), failingPercent)) {
                throw new IllegalStateException("fails once");
            }
            tally.succeeded();
        });
    }

    /** Whether the record at `offset` fails its first attempt with `percent` % failing. */
    static boolean failsOnce(long offset, int percent) {
        return percent > 0 && offset % (100 / percent) == 0;
    }

    private static KafkaConsumer<String, String> consumer(String bootstrap, String group) {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        // Parallel Consumer commits itself and refuses a consumer that auto-commits.
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
        return new KafkaConsumer<>(props);
    }

    /** Says `PEER-READY` the first time the consumer is given partitions. */
    private static final class Readiness implements ConsumerRebalanceListener {
        private final AtomicBoolean said = new AtomicBoolean();

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            if (!partitions.isEmpty() && said.compareAndSet(false, true)) {
                Tally.say("PEER-READY");
            }
        }

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
        }
    }
}

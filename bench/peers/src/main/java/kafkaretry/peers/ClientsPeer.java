package kafkaretry.peers;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The Java floor: plain kafka-clients poll loops doing the same work as the listeners, with the
 * clients' defaults. One thread and consumer per partition of each topic of the workload's chain
 * (as Spring's concurrency equal to the partitions), each assigned its partition. A failed
 * record is produced to the next topic of the chain, on the same partition, with two headers:
 * the delivery attempt and the due time, which the next topic's loop sleeps until. Configured
 * from the environment: KAFKA_BOOTSTRAP_SERVERS, PEER_WORKLOAD, PEER_TOPIC, PEER_RECORDS,
 * PEER_PARTITIONS.
 */
public final class ClientsPeer {
    private static final String ATTEMPTS = "retry_topic-attempts";
    private static final String DUE = "retry_topic-backoff-timestamp";

    private ClientsPeer() {
    }

    /** One topic of the chain, and the delay before a record is due there. */
    private record Stage(String topic, long delayMs) {
    }

    public static void main(String[] args) throws InterruptedException {
        Map<String, String> env = System.getenv();
        String bootstrap = env.get("KAFKA_BOOTSTRAP_SERVERS");
        String topic = env.get("PEER_TOPIC");
        int partitions = Integer.parseInt(env.get("PEER_PARTITIONS"));
        Tally tally = Tally.fromEnv(env);
        List<Stage> chain = switch (tally.workload()) {
            case HAPPY, IO5MS -> List.of(new Stage(topic, 0));
            case FAILING10 -> List.of(new Stage(topic, 0), new Stage(topic + "-retry", 1000));
            case DLT -> List.of(new Stage(topic, 0), new Stage(topic + "-retry-1000", 1000),
                    new Stage(topic + "-retry-2000", 2000), new Stage(topic + "-retry-4000", 4000));
        };
        boolean forwards = chain.size() > 1;
        KafkaProducer<String, String> producer = forwards ? producer(bootstrap) : null;
        String dlt = tally.workload() == Tally.Workload.DLT ? topic + "-dlt" : null;
        int loops = partitions * (chain.size() + (dlt == null ? 0 : 1));
        CountDownLatch assigned = new CountDownLatch(loops);
        for (int stage = 0; stage < chain.size(); stage++) {
            Stage next = stage + 1 < chain.size() ? chain.get(stage + 1) : new Stage(topic + "-dlt", 0);
            int attempt = stage + 2;
            for (int p = 0; p < partitions; p++) {
                Stage here = chain.get(stage);
                int partition = p;
                start(here.topic() + "-" + p, () -> {
                    try (KafkaConsumer<String, String> consumer = consumer(bootstrap, here.topic(), partition)) {
                        assigned.countDown();
                        while (true) {
                            for (ConsumerRecord<String, String> rec : consumer.poll(Duration.ofMillis(100))) {
                                long due = Tally.dueOf(header(rec));
                                sleepUntil(due);
                                try {
                                    tally.handle(rec.key(), due);
                                } catch (InterruptedException e) {
                                    return;
                                } catch (Exception e) {
                                    forward(producer, next, rec, attempt);
                                }
                            }
                        }
                    }
                });
            }
        }
        if (dlt != null) {
            for (int p = 0; p < partitions; p++) {
                int partition = p;
                start(dlt + "-" + p, () -> {
                    try (KafkaConsumer<String, String> consumer = consumer(bootstrap, dlt, partition)) {
                        assigned.countDown();
                        while (true) {
                            for (ConsumerRecord<String, String> ignored : consumer.poll(Duration.ofMillis(100))) {
                                tally.deadLetter();
                            }
                        }
                    }
                });
            }
        }
        assigned.await();
        Tally.say("PEER-READY");
    }

    private static void start(String name, Runnable loop) {
        new Thread(loop, name).start();
    }

    private static KafkaConsumer<String, String> consumer(String bootstrap, String topic, int partition) {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.GROUP_ID_CONFIG, topic);
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
        KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props);
        consumer.assign(List.of(new TopicPartition(topic, partition)));
        return consumer;
    }

    private static KafkaProducer<String, String> producer(String bootstrap) {
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        return new KafkaProducer<>(props);
    }

    private static byte[] header(ConsumerRecord<String, String> rec) {
        var header = rec.headers().lastHeader(DUE);
        return header == null ? null : header.value();
    }

    private static void sleepUntil(long dueMs) {
        long wait = dueMs - System.currentTimeMillis();
        if (wait > 0) {
            try {
                Thread.sleep(wait);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Produces `rec` to `next` on its partition, as delivery `attempt`, due after `next`'s delay. */
    private static void forward(KafkaProducer<String, String> producer, Stage next, ConsumerRecord<String, String> rec,
            int attempt) {
        ProducerRecord<String, String> out = new ProducerRecord<>(next.topic(), rec.partition(), rec.key(), rec.value());
        out.headers().add(ATTEMPTS, ByteBuffer.allocate(Integer.BYTES).putInt(attempt).array());
        if (next.delayMs() > 0) {
            long due = System.currentTimeMillis() + next.delayMs();
            out.headers().add(DUE, ByteBuffer.allocate(Long.BYTES).putLong(due).array());
        }
        producer.send(out);
    }
}

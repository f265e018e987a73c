package kafkaretry.peers;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.springframework.boot.autoconfigure.condition.ConditionalOnExpression;
import org.springframework.kafka.annotation.KafkaListener;
import org.springframework.kafka.annotation.RetryableTopic;
import org.springframework.retry.annotation.Backoff;
import org.springframework.stereotype.Component;

/**
 * The listener of the happy, failing10 and io5ms workloads: one retry after 1 s, as the Rust
 * listener's `attempts = 2, backoff = "1s"`.
 */
@Component
@ConditionalOnExpression("'${peer.workload}' != 'dlt'")
public class OnceListener {
    private final Tally tally;

    OnceListener(Tally tally) {
        this.tally = tally;
    }

    @RetryableTopic(attempts = "2", backoff = @Backoff(delay = 1000))
    @KafkaListener(topics = "${peer.topic}", groupId = "${peer.topic}", concurrency = "${peer.partitions}")
    public void listen(ConsumerRecord<String, String> rec) throws Exception {
        tally.handle(rec.key(), Tally.dueOf(backoffHeader(rec)));
    }

    /** Spring's due-time header of a retry, null on the main topic. */
    static byte[] backoffHeader(ConsumerRecord<String, String> rec) {
        var header = rec.headers().lastHeader("retry_topic-backoff-timestamp");
        return header == null ? null : header.value();
    }
}

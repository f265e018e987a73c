package kafkaretry.peers;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.kafka.annotation.DltHandler;
import org.springframework.kafka.annotation.KafkaListener;
import org.springframework.kafka.annotation.RetryableTopic;
import org.springframework.retry.annotation.Backoff;
import org.springframework.stereotype.Component;

/**
 * The listener of the dlt workload: four attempts 1 s, 2 s and 4 s apart, then the DLT, as the
 * Rust listener's `attempts = 4, backoff = "1s*2"`.
 */
@Component
@ConditionalOnProperty(name = "peer.workload", havingValue = "dlt")
public class ChainListener {
    private final Tally tally;

    ChainListener(Tally tally) {
        this.tally = tally;
    }

    @RetryableTopic(attempts = "4", backoff = @Backoff(delay = 1000, multiplier = 2))
    @KafkaListener(topics = "${peer.topic}", groupId = "${peer.topic}", concurrency = "${peer.partitions}")
    public void listen(ConsumerRecord<String, String> rec) throws Exception {
        tally.handle(rec.key(), Tally.dueOf(OnceListener.backoffHeader(rec)));
    }

    @DltHandler
    public void deadLetter(ConsumerRecord<String, String> rec) {
        tally.deadLetter();
    }
}

package kafkaretry.interop;

import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.util.LinkedHashMap;
import java.util.Map;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;

/**
 * One line on stdout per thing the service did, `ITEMS-EVENT {json}`, for the tests that drive
 * it: what a handler saw (topic, delivery attempt and due time as Spring's headers say) and when.
 */
final class Events {
    private static final ObjectMapper JSON = new ObjectMapper();

    private Events() {
    }

    /** Prints an event about `rec`. */
    static void record(String event, ConsumerRecord<String, String> rec, String detail) {
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("event", event);
        fields.put("key", rec.key());
        fields.put("topic", rec.topic());
        fields.put("partition", rec.partition());
        fields.put("offset", rec.offset());
        fields.put("attempt", attempt(rec));
        fields.put("due", due(rec));
        fields.put("at", System.currentTimeMillis());
        fields.put("detail", detail);
        print(fields);
    }

    /** Prints an event about the service itself. */
    static void service(String event) {
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("event", event);
        fields.put("at", System.currentTimeMillis());
        print(fields);
    }

    private static void print(Map<String, Object> fields) {
        try {
            String line = "ITEMS-EVENT " + JSON.writeValueAsString(fields);
            synchronized (System.out) {
                System.out.println(line);
                System.out.flush();
            }
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The delivery attempt Spring's `retry_topic-attempts` header gives (1 without it). */
    private static int attempt(ConsumerRecord<String, String> rec) {
        Header header = rec.headers().lastHeader("retry_topic-attempts");
        if (header == null) {
            return 1;
        }
        byte[] value = header.value();
        return value.length == Integer.BYTES ? ByteBuffer.wrap(value).getInt() : value[0];
    }

    /** The due time (epoch ms) of `retry_topic-backoff-timestamp`, if any. */
    private static Long due(ConsumerRecord<String, String> rec) {
        Header header = rec.headers().lastHeader("retry_topic-backoff-timestamp");
        return header == null ? null : new BigInteger(header.value()).longValue();
    }
}

package kafkaretry.interop;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.springframework.kafka.annotation.DltHandler;
import org.springframework.kafka.annotation.KafkaListener;
import org.springframework.kafka.annotation.RetryableTopic;
import org.springframework.stereotype.Component;

/**
 * The items service's handlers, as the Rust `items` example has them: `create-item` stores an
 * item as PENDING; `update-item` sets its status, retrying an unknown id (`NotFoundYet`) through
 * `update-item-retry-1000`, `-2000`, `-4000` and then `update-item-dlt`, and sending an invalid
 * status straight to the DLT. Consumer groups are the Rust handlers' names. The same source runs on
 * spring-kafka 3.x (pom.xml) and 4.x (boot4/pom.xml); `@UpdateItemRetry` is the one part each
 * spells its own way.
 */
@Component
public class ItemsListeners {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Map<String, String> statuses = new ConcurrentHashMap<>();

    @RetryableTopic
    @KafkaListener(topics = "${items.prefix}create-item", groupId = "${items.prefix}create_item")
    public void createItem(ConsumerRecord<String, String> rec) throws Exception {
        JsonNode item = JSON.readTree(rec.value());
        statuses.put(item.get("id").asText(), "PENDING");
        Events.record("handled", rec, "created item " + item.get("id").asText());
    }

    @UpdateItemRetry
    @KafkaListener(topics = "${items.prefix}update-item", groupId = "${items.prefix}update_item")
    public void updateItem(ConsumerRecord<String, String> rec) throws Exception {
        JsonNode update = JSON.readTree(rec.value());
        String id = update.get("id").asText();
        String status = update.get("status").asText();
        try {
            if (!status.equals("PENDING") && !status.equals("ACTIVE") && !status.equals("INACTIVE")) {
                throw new InvalidStatus(status);
            }
            if (statuses.replace(id, status) == null) {
                throw new NotFoundYet(id);
            }
        } catch (Exception e) {
            Events.record("failed", rec, e.getMessage());
            throw e;
        }
        Events.record("handled", rec, "item " + id + " is now " + status);
    }

    @DltHandler
    public void updateItemDlt(ConsumerRecord<String, String> rec) {
        Events.record("dead-letter", rec, "");
    }
}

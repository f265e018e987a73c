package kafkaretry.peers;

import org.springframework.boot.ApplicationArguments;
import org.springframework.boot.ApplicationRunner;
import org.springframework.kafka.config.KafkaListenerEndpointRegistry;
import org.springframework.kafka.listener.ConcurrentMessageListenerContainer;
import org.springframework.kafka.listener.MessageListenerContainer;
import org.springframework.stereotype.Component;

/**
 * Prints `PEER-READY` once every consumer of every listener container (main, retry and DLT
 * topics) has partitions, so the benchmark knows records written now are read at once.
 */
@Component
class Readiness implements ApplicationRunner {
    private final KafkaListenerEndpointRegistry registry;

    Readiness(KafkaListenerEndpointRegistry registry) {
        this.registry = registry;
    }

    @Override
    public void run(ApplicationArguments args) {
        Thread watcher = new Thread(() -> {
            try {
                while (!allAssigned()) {
                    Thread.sleep(20);
                }
                Tally.say("PEER-READY");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "readiness");
        watcher.setDaemon(true);
        watcher.start();
    }

    private boolean allAssigned() {
        var containers = registry.getAllListenerContainers();
        if (containers.isEmpty()) {
            return false;
        }
        for (MessageListenerContainer container : containers) {
            var consumers = container instanceof ConcurrentMessageListenerContainer<?, ?> concurrent
                    ? concurrent.getContainers()
                    : java.util.List.of(container);
            for (MessageListenerContainer consumer : consumers) {
                var assigned = consumer.getAssignedPartitions();
                if (assigned == null || assigned.isEmpty()) {
                    return false;
                }
            }
        }
        return true;
    }
}

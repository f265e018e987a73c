package kafkaretry.interop;

import org.springframework.boot.ApplicationArguments;
import org.springframework.boot.ApplicationRunner;
import org.springframework.kafka.config.KafkaListenerEndpointRegistry;
import org.springframework.kafka.listener.MessageListenerContainer;
import org.springframework.stereotype.Component;

/**
 * Prints the `ready` event once every listener container (main, retry and DLT topics) has
 * partitions, so a test knows when records will be read.
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
                    Thread.sleep(100);
                }
                Events.service("ready");
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
            var assigned = container.getAssignedPartitions();
            if (assigned == null || assigned.isEmpty()) {
                return false;
            }
        }
        return true;
    }
}

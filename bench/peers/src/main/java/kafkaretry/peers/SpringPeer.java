package kafkaretry.peers;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.context.annotation.Bean;
import org.springframework.core.env.Environment;

/**
 * The Spring Kafka peer: `java -jar peers-spring.jar` with PEER_WORKLOAD, PEER_TOPIC,
 * PEER_RECORDS, PEER_PARTITIONS and SPRING_KAFKA_BOOTSTRAP_SERVERS set. Boot's defaults
 * otherwise: the auto-configured container factory, INFO logging to the console.
 */
@SpringBootApplication
public class SpringPeer {
    public static void main(String[] args) {
        SpringApplication.run(SpringPeer.class, args);
    }

    /** The counts the listeners report to. */
    @Bean
    Tally tally(Environment env) {
        return new Tally(Tally.workloadOf(env.getRequiredProperty("peer.workload")),
                Long.parseLong(env.getRequiredProperty("peer.records")));
    }
}

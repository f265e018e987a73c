package kafkaretry.interop;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

/** The items service on Spring Kafka: `java -jar items-spring.jar [--items.prefix=run1-]`. */
@SpringBootApplication
public class ItemsApplication {
    public static void main(String[] args) {
        SpringApplication.run(ItemsApplication.class, args);
    }
}

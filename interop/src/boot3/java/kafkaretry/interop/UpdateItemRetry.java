package kafkaretry.interop;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

import org.springframework.kafka.annotation.RetryableTopic;
import org.springframework.retry.annotation.Backoff;

/**
 * `update-item`'s retries as spring-kafka 3.x spells them: 4 deliveries, 1 s doubling (Spring
 * Retry's `@Backoff`), retrying `NotFoundYet` only. The one source file that differs between the
 * generations; src/boot4 has the spring-kafka 4.x spelling of the same settings.
 */
@Target(ElementType.METHOD)
@Retention(RetentionPolicy.RUNTIME)
@RetryableTopic(attempts = "4", backoff = @Backoff(delay = 1000, multiplier = 2), include = NotFoundYet.class)
@interface UpdateItemRetry {
}

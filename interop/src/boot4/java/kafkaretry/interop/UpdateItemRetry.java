package kafkaretry.interop;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

import org.springframework.kafka.annotation.BackOff;
import org.springframework.kafka.annotation.RetryableTopic;

/**
 * `update-item`'s retries as spring-kafka 4.x spells them: 4 deliveries, 1 s doubling
 * (spring-kafka's own `@BackOff`, Spring Retry being gone), retrying `NotFoundYet` only. The one
 * source file that differs between the generations; src/boot3 has the spring-kafka 3.x spelling
 * of the same settings.
 */
@Target(ElementType.METHOD)
@Retention(RetentionPolicy.RUNTIME)
@RetryableTopic(attempts = "4", backOff = @BackOff(delayString = "1s", multiplier = 2), include = NotFoundYet.class)
@interface UpdateItemRetry {
}

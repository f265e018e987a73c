package kafkaretry.interop;

/** The update names a status that does not exist: not retryable. */
public class InvalidStatus extends Exception {
    public InvalidStatus(String status) {
        super("invalid status \"" + status + "\": expected PENDING, ACTIVE or INACTIVE");
    }
}

package kafkaretry.interop;

/** The update names an item that does not exist yet: retryable (the create may be on its way). */
public class NotFoundYet extends Exception {
    public NotFoundYet(String id) {
        super("item " + id + " not created yet");
    }
}

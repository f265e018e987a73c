/**
 * The broker process kafka.sh starts, compiled once against the broker's classpath:
 * {@code KafkaHarness CLUSTER_ID SERVER_PROPERTIES} formats the node's storage (KRaft) unless
 * it already is, then runs the broker in the same JVM. Formatting in-process saves a second
 * JVM start per node; a restarted node keeps its data.
 */
public final class KafkaHarness {
    private KafkaHarness() {}

    public static void main(String[] args) {
        if (args.length != 2) {
            System.err.println("usage: KafkaHarness CLUSTER_ID SERVER_PROPERTIES");
            System.exit(2);
        }
        String clusterId = args[0];
        String serverProperties = args[1];
        int status = kafka.tools.StorageTool.execute(
                new String[] {"format", "--ignore-formatted", "-t", clusterId, "-c", serverProperties},
                System.out);
        if (status != 0) {
            System.err.println("formatting the storage failed with status " + status);
            System.exit(1);
        }
        System.out.flush();
        kafka.Kafka.main(new String[] {serverProperties});
    }
}

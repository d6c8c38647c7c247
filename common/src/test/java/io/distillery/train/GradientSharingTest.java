package io.distillery.train;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.distillery.errors.BadInputException;
import java.net.DatagramSocket;
import org.junit.jupiter.api.Test;

/** DL4J waits forever when Aeron cannot bind; the driver's port is checked before a job starts. */
class GradientSharingTest {
    @Test
    void aTakenDriverPortIsOneClearLine() throws Exception {
        try (DatagramSocket taken = new DatagramSocket(0)) {
            int port = taken.getLocalPort();
            BadInputException e = assertThrows(BadInputException.class, () -> GradientSharing.requireFreePort(port));
            assertTrue(e.getMessage().contains("train.gradient-sharing.port") && e.getMessage().contains(String.valueOf(port)), e.getMessage());
            assertTrue(!e.getMessage().contains("\n"), e.getMessage());
        }
        int free;
        try (DatagramSocket probe = new DatagramSocket(0)) {
            free = probe.getLocalPort();
        }
        assertDoesNotThrow(() -> GradientSharing.requireFreePort(free));
    }

    @Test
    void theDriverListensOnThePortItself() {
        GradientSharing.ExecutorPortSupplier ports = new GradientSharing.ExecutorPortSupplier(40123);
        // Outside an executor (no SparkEnv, or the driver's): the port itself; executor N gets port + 1 + N.
        assertTrue(ports.getPort() == 40123, "driver port " + ports.getPort());
    }
}

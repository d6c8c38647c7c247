package io.distillery.jobs.cluster;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** local-cluster.sh in bad states, without starting anything: one line, exit status 2, nothing created. */
class LocalClusterScriptTest {
    @TempDir
    Path tmp;

    @Test
    void badStatesEndWithOneLineAndStatus2() throws Exception {
        Path state = tmp.resolve("state");
        check(state, 2, "no cluster is running in " + state, "submit", "prep");
        check(state, 2, "no cluster in " + state, "status");
        check(state, 2, "unknown command 'frob'", "frob");
        check(state, 2, "start takes no arguments", "start", "now");
        check(state, 2, "usage: cluster-config/local-cluster.sh <start|submit ARGS...|status|stop>");
        check(state, 0, "nothing to stop", "stop");
        assertFalse(Files.exists(state), "a bad command created " + state);
    }

    private static void check(Path state, int status, String fragment, String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of("bash", LocalCluster.SCRIPT.toString()));
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
        pb.environment().put("DISTILLERY_CLUSTER_DIR", state.toString());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(status, p.waitFor(), out);
        assertEquals(1, out.lines().count(), out);
        assertTrue(out.contains(fragment), out);
    }
}

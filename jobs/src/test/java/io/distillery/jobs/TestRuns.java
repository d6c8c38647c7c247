package io.distillery.jobs;

import io.distillery.jobs.cli.DistillCli;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Small pipelines for tests: a config file on a slice of real Fashion-MNIST, the CLI run in-process,
 * and the checks every bad-input run must pass.
 */
public final class TestRuns {
    public static final String FASHION_MNIST = "/usr/share/datasets/fashion-mnist";

    private TestRuns() {
    }

    /**
     * A pipeline config with tiny models on the first {@code limit} images of each Fashion-MNIST file
     * ({@code 2 * limit} images in all), writing to {@code runDir}.
     */
    public static Path config(Path dir, Path runDir, int limit, String extra) {
        return config(dir, runDir.toString(), FASHION_MNIST, limit, extra);
    }

    /** As {@link #config(Path, Path, int, String)}, with the run directory and data path as any Hadoop URI ({@code hdfs://...}). */
    public static Path config(Path dir, String runDir, String dataPath, int limit, String extra) {
        String hocon = """
                distillery {
                  run-dir = "%s"
                  data { path = "%s", limit = %d, shard-rows = 400, validation-fraction = 0.15 }
                train-defaults { batch-size = 32, averaging-frequency = 4, workers = 2, learning-rate = 0.005 }
                  teacher {
                    name = "tiny-resnet"
                    model { architecture = "resnet", widths = [8, 16, 32], blocks = [1, 1, 1] }
                    train { epochs = 5 }
                  }
                  precompute { taps = ["stage3"], batch-size = 64 }
                  student { name = "tiny-cnn", model { architecture = "cnn", widths = [8, 16, 32], blocks = [1, 1, 1] } }
                  distill {
                    train { epochs = 5 }
                    loss { ce-weight = 0.5, kd-weight = 0.5, hint-weight = 0.1 }
                    hint { student-layer = "stage3", teacher-tap = "stage3" }
                  }
                  evaluate { speed-images = 64, speed-batch-sizes = [1, 16], warmup-batches = 2 }
                }
                %s
                """.formatted(runDir, dataPath, limit, extra);
        try {
            Path file = Files.createTempFile(dir, "pipeline", ".conf");
            Files.writeString(file, hocon);
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Result of one CLI run: exit status and what it printed to stdout and stderr. */
    public record Run(int status, String out, String err) {
    }

    /** Runs {@code distill <args>} in this JVM against local[2], capturing stdout and stderr. */
    public static Run cli(String... args) {
        List<String> all = new ArrayList<>(Arrays.asList(args));
        all.add("--master");
        all.add("local[2]");
        PrintStream originalErr = System.err;
        PrintStream originalOut = System.out;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        System.setErr(new PrintStream(new TeeStream(originalErr, err), true, StandardCharsets.UTF_8));
        System.setOut(new PrintStream(new TeeStream(originalOut, out), true, StandardCharsets.UTF_8));
        try {
            int status = DistillCli.execute(all.toArray(new String[0]));
            return new Run(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setErr(originalErr);
            System.setOut(originalOut);
        }
    }

    /**
     * Checks a run ended as bad input should: exit status 2 and one error line holding every fragment,
     * without a stack trace. Returns that line.
     */
    public static String expectBadInput(Run r, String... fragments) {
        assertEquals(DistillCli.BAD_INPUT, r.status(), r.err());
        String line = r.err().lines().filter(l -> l.contains(": error: ")).findFirst().orElse("");
        assertFalse(line.isEmpty(), "no error line in:\n" + r.err());
        for (String f : fragments) {
            assertTrue(line.contains(f), "error line lacks '" + f + "': " + line);
        }
        assertFalse(r.err().contains("\tat "), "a stack trace was printed:\n" + r.err());
        return line;
    }

    /** Checks that a failed run left nothing in its run directory: no table, no staging directory. */
    public static void assertNothingWritten(Path runDir) throws IOException {
        if (Files.exists(runDir)) {
            try (var files = Files.walk(runDir)) {
                var left = files.filter(p -> !p.equals(runDir)).toList();
                assertTrue(left.isEmpty(), "output left behind in " + runDir + ": " + left);
            }
        }
    }

    /** Whether a directory holds nothing at all. */
    public static boolean isEmpty(Path dir) throws IOException {
        try (var files = Files.list(dir)) {
            return files.findAny().isEmpty();
        }
    }

    private static final class TeeStream extends java.io.OutputStream {
        private final java.io.OutputStream a;
        private final java.io.OutputStream b;

        TeeStream(java.io.OutputStream a, java.io.OutputStream b) {
            this.a = a;
            this.b = b;
        }

        @Override
        public void write(int c) throws IOException {
            a.write(c);
            b.write(c);
        }

        @Override
        public void write(byte[] buf, int off, int len) throws IOException {
            a.write(buf, off, len);
            b.write(buf, off, len);
        }
    }
}

package io.distillery.jobs;

import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPOutputStream;

import static io.distillery.jobs.TestRuns.assertNothingWritten;
import static io.distillery.jobs.TestRuns.expectBadInput;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Each kind of bad input from the issue: one line naming what is wrong, exit status 2, and no
 * output left behind (no table, no staging directory).
 */
class BadInputTest {
    @TempDir
    static Path tmp;
    /** A run with examples, a one-epoch teacher and its outputs, shared by the tests that need them. */
    static Path run;
    static Path config;

    @BeforeAll
    static void prepareRun() {
        run = tmp.resolve("run");
        config = TestRuns.config(tmp, run, 300, "distillery.teacher.train.epochs = 1");
        for (String stage : new String[]{"prep", "teacher", "precompute"}) {
            TestRuns.Run r = TestRuns.cli(stage, "--config", config.toString());
            assertEquals(0, r.status(), stage + " failed:\n" + r.err());
        }
    }

    @Test
    void missingDatasetPath() throws IOException {
        Path other = tmp.resolve("missing-run");
        expectBadInput(TestRuns.cli("prep", "--config", config.toString(), "--set", "run-dir=" + other,
                "--set", "data.path=" + tmp.resolve("no-such-dataset")), "no-such-dataset", "does not exist");
        assertNothingWritten(other);
    }

    @Test
    void wrongIdxMagicNumber() throws IOException {
        Path data = idxDataset("magic", 0x00000804, 5, 5, false);
        Path other = tmp.resolve("magic-run");
        expectBadInput(TestRuns.cli("prep", "--config", config.toString(), "--set", "run-dir=" + other, "--set", "data.path=" + data),
                "train-images-idx3-ubyte", "0x00000803");
        assertNothingWritten(other);
    }

    @Test
    void imageAndLabelCountsDiffer() throws IOException {
        Path data = idxDataset("counts", 0x00000803, 5, 4, false);
        Path other = tmp.resolve("counts-run");
        expectBadInput(TestRuns.cli("prep", "--config", config.toString(), "--set", "run-dir=" + other, "--set", "data.path=" + data),
                "5", "4");
        assertNothingWritten(other);
    }

    /** The gzip is cut short: found by the Spark task reading it, reported as one line by the driver. */
    @Test
    void truncatedGzip() throws IOException {
        Path data = idxDataset("truncated", 0x00000803, 50, 50, true);
        Path other = tmp.resolve("truncated-run");
        expectBadInput(TestRuns.cli("prep", "--config", config.toString(), "--set", "run-dir=" + other, "--set", "data.path=" + data),
                "train-images-idx3-ubyte.gz");
        assertNothingWritten(other);
    }

    @Test
    void tapThatIsNotALayer() {
        String line = expectBadInput(TestRuns.cli("precompute", "--config", config.toString(), "--set", "precompute.taps=[stage3, no_such_layer]",
                "--force"), "no_such_layer", "stage2", "logits");
        assertTrue(line.contains("valid names"), line);
        assertFalse(Files.exists(run.resolve("teacher-outputs/tiny-resnet.partial")));
    }

    @Test
    void unknownConfigKeyNamesTheNearestValidOne() {
        expectBadInput(TestRuns.cli("distill", "--config", config.toString(), "--set", "distill.train.epoch=3"),
                "distill.train.epoch", "distill.train.epochs");
    }

    @Test
    void existingOutputIsSkippedWhenProvenanceMatchesAndRefusedOtherwise() throws IOException {
        String manifest = Files.readString(run.resolve("examples/_manifest.json"));
        TestRuns.Run same = TestRuns.cli("prep", "--config", config.toString());
        assertEquals(0, same.status(), same.err());
        assertTrue(same.err().contains("up to date"), same.err());
        assertEquals(manifest, Files.readString(run.resolve("examples/_manifest.json")));
        expectBadInput(TestRuns.cli("prep", "--config", config.toString(), "--set", "data.seed=7"), "--force", "examples");
        assertEquals(manifest, Files.readString(run.resolve("examples/_manifest.json")), "refused run must not touch the output");
    }

    @Test
    void forceReplacesAnExistingOutput() throws IOException {
        Path copy = copyRun("force");
        String before = Files.readString(copy.resolve("examples/_manifest.json"));
        TestRuns.Run r = TestRuns.cli("prep", "--config", config.toString(), "--set", "run-dir=" + copy, "--set", "data.seed=7", "--force");
        assertEquals(0, r.status(), r.err());
        assertNotEquals(before, Files.readString(copy.resolve("examples/_manifest.json")));
    }

    /** Examples re-made from more images: the old teacher outputs no longer cover every training id. */
    @Test
    void teacherOutputsThatDoNotCoverTheExamples() throws IOException {
        Path copy = copyRun("coverage");
        TestRuns.Run prep = TestRuns.cli("prep", "--config", config.toString(), "--set", "run-dir=" + copy, "--set", "data.limit=320", "--force");
        assertEquals(0, prep.status(), prep.err());
        expectBadInput(TestRuns.cli("distill", "--config", config.toString(), "--set", "run-dir=" + copy), "teacher outputs", "lack", "training example ids");
        assertFalse(Files.exists(copy.resolve("students/tiny-cnn")));
        assertFalse(Files.exists(copy.resolve("students/tiny-cnn.partial")));
    }

    @Test
    void manifestShapeThatDoesNotFitTheStudentsHead() throws IOException {
        Path copy = copyRun("shape");
        Path manifest = copy.resolve("teacher-outputs/tiny-resnet/_manifest.json");
        String json = Files.readString(manifest);
        String edited = json.replaceFirst("(\"name\" : \"logits\",[^}]*\"shape\" : \\[ )10( \\])", "$17$2");
        assertNotEquals(json, edited, "test setup: logits shape not found in manifest");
        Files.writeString(manifest, edited);
        expectBadInput(TestRuns.cli("distill", "--config", config.toString(), "--set", "run-dir=" + copy), "logits", "[7]", "10 classes");
    }

    @Test
    void nonFiniteTeacherOutputs() throws IOException {
        Path copy = copyRun("nan");
        Path table = copy.resolve("teacher-outputs/tiny-resnet");
        SparkSession spark = SparkSession.builder().master("local[1]").appName("corrupt").getOrCreate();
        long victim;
        try {
            Dataset<Row> outputs = spark.read().parquet(table.toString());
            victim = outputs.orderBy("id").first().getLong(0);
            byte[] nan = ByteBuffer.allocate(40).order(java.nio.ByteOrder.LITTLE_ENDIAN).putFloat(Float.NaN).array();
            Path rewritten = tmp.resolve("nan-table");
            outputs.withColumn("logits", functions.when(functions.col("id").equalTo(victim), functions.lit(nan)).otherwise(functions.col("logits")))
                    .write().parquet(rewritten.toString());
            try (var parts = Files.list(table)) {
                for (Path p : parts.filter(p -> p.getFileName().toString().endsWith(".parquet")).toList()) {
                    Files.delete(p);
                }
            }
            try (var parts = Files.list(rewritten)) {
                for (Path p : parts.filter(p -> p.getFileName().toString().endsWith(".parquet")).toList()) {
                    Files.move(p, table.resolve(p.getFileName()));
                }
            }
        } finally {
            spark.stop();
        }
        expectBadInput(TestRuns.cli("distill", "--config", config.toString(), "--set", "run-dir=" + copy), "logits", "id " + victim, "NaN");
    }

    private static Path copyRun(String name) throws IOException {
        Path copy = tmp.resolve("copy-" + name);
        try (var files = Files.walk(run)) {
            for (Path p : files.toList()) {
                Path target = copy.resolve(run.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(p, target);
                }
            }
        }
        return copy;
    }

    /** A tiny idx dataset (train and t10k) whose train image file has the given magic and counts. */
    private static Path idxDataset(String name, int imageMagic, int images, int labels, boolean truncateGzip) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("data-" + name));
        byte[] imageFile = idx(imageMagic, images, new int[]{4, 4}, images * 16);
        byte[] labelFile = idx(0x00000801, labels, new int[0], labels);
        writeGz(dir.resolve("train-images-idx3-ubyte.gz"), imageFile, truncateGzip);
        writeGz(dir.resolve("train-labels-idx1-ubyte.gz"), labelFile, false);
        writeGz(dir.resolve("t10k-images-idx3-ubyte.gz"), idx(0x00000803, 3, new int[]{4, 4}, 48), false);
        writeGz(dir.resolve("t10k-labels-idx1-ubyte.gz"), idx(0x00000801, 3, new int[0], 3), false);
        return dir;
    }

    private static byte[] idx(int magic, int count, int[] dims, int payload) {
        ByteBuffer b = ByteBuffer.allocate(8 + 4 * dims.length + payload);
        b.putInt(magic).putInt(count);
        for (int d : dims) {
            b.putInt(d);
        }
        for (int i = 0; i < payload; i++) {
            b.put((byte) ((i * 31 + 7) % 251 % 10));
        }
        return b.array();
    }

    private static void writeGz(Path file, byte[] content, boolean truncate) throws IOException {
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        try (OutputStream gz = new GZIPOutputStream(bytes)) {
            gz.write(content);
        }
        byte[] all = bytes.toByteArray();
        Files.write(file, truncate ? java.util.Arrays.copyOf(all, all.length / 2) : all);
    }
}

package io.distillery.jobs.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import io.distillery.data.ImageShape;
import io.distillery.jobs.TestRuns;
import io.distillery.model.Models;
import io.distillery.runtime.Storage;
import io.distillery.table.ExamplesTable;
import io.distillery.table.Json;
import io.distillery.table.Manifest;
import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.hadoop.ParquetReader;
import org.apache.parquet.hadoop.example.GroupReadSupport;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Distillery on a real Spark standalone cluster: cluster-config/local-cluster.sh starts a Master and
 * two one-core Workers as separate JVMs on 127.0.0.1, and every command goes in through spark-submit
 * with a driver JVM of its own. So tasks run in executor JVMs that the Workers launch, parameter
 * averaging ships parameters between processes, and processes can be killed: an executor in the
 * middle of precompute and of a training epoch, the driver in the middle of distill, and a second
 * command started on a busy run directory.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class StandaloneClusterTest {
    private static final int EPOCHS = 2;
    /** Logs, cluster state and run directories stay here for a look after a failure; the next run clears them. */
    static final Path tmp = LocalCluster.ROOT.resolve("jobs/target/standalone-cluster-test");
    static LocalCluster cluster;
    static Path runDir;
    static Path config;
    static Map<String, Long> seconds = new HashMap<>();

    @BeforeAll
    static void startClusterAndRunThePipeline() throws Exception {
        deleteTree(tmp);
        Files.createDirectories(tmp);
        long t0 = System.nanoTime();
        cluster = LocalCluster.start(tmp.resolve("cluster"));
        seconds.put("start", (System.nanoTime() - t0) / 1_000_000_000L);
        runDir = tmp.resolve("run");
        // 1,200 images in 20 shards; teacher 1 epoch, students 2: small, but enough tasks per stage to kill one midway.
        config = TestRuns.config(tmp, runDir, 600, """
                distillery.data.shard-rows = 60
                distillery.teacher.train.epochs = 1
                distillery.distill.train.epochs = %d
                """.formatted(EPOCHS));
    }

    @AfterAll
    static void stopEveryProcess() throws Exception {
        if (cluster == null) {
            return;
        }
        List<ProcessHandle> before = cluster.processes();
        cluster.close();
        for (ProcessHandle p : before) {
            p.onExit().get(30, TimeUnit.SECONDS);
        }
        assertTrue(cluster.processes().isEmpty(), "processes left running: " + cluster.processes().stream().map(LocalCluster::commandLine).toList());
        System.err.println("StandaloneClusterTest seconds: " + seconds);
    }

    /** prep, teacher, precompute, distill, baseline and evaluate, all in executors of both Workers. */
    @Test
    @Order(1)
    void pipelineRunsOnExecutorsInTheirOwnJvms() throws Exception {
        assertNotNull(cluster.masterUrl, "local-cluster.sh start printed no spark:// URL");
        assertTrue(cluster.masterUrl.startsWith("spark://127.0.0.1:"), cluster.masterUrl);
        assertEquals(2, cluster.workers().size(), "Worker JVMs");
        LocalCluster.Result again = cluster.script(tmp.resolve("start-again.log"), 60, "start");
        assertEquals(2, again.status(), again.output());
        assertTrue(again.output().contains("already running at " + cluster.masterUrl), again.output());
        Run run = submit("pipeline", "pipeline", "--config", config.toString());
        run.expectSuccess();
        assertTrue(run.log.contains("Granted executor ID"), "no executor was granted:\n" + run.tail());
        // Each Worker launched an executor JVM that ran tasks: its stderr in the Worker's work directory says so.
        for (int w = 1; w <= 2; w++) {
            Path work = cluster.state.resolve("work/worker-" + w);
            List<Path> stderrs;
            try (Stream<Path> files = Files.walk(work)) {
                stderrs = files.filter(p -> p.getFileName().toString().equals("stderr")).toList();
            }
            assertFalse(stderrs.isEmpty(), "worker " + w + " launched no executor");
            boolean ranTasks = false;
            for (Path s : stderrs) {
                ranTasks |= Files.readString(s).contains("Finished task");
            }
            assertTrue(ranTasks, "no executor of worker " + w + " finished a task");
        }
        assertTrue(run.log.contains("(executor 0)") && run.log.contains("(executor 1)"), "tasks did not run on two executors");

        // One teacher-outputs row per (train id, view), read back from the Parquet files themselves.
        Set<Long> trainIds = ids(runDir.resolve("examples"), "train");
        Map<String, String> rows = teacherRows(runDir.resolve("teacher-outputs/tiny-resnet"));
        assertEquals(trainIds.size(), rows.size(), "rows vs train examples");
        Set<Long> covered = new HashSet<>();
        rows.keySet().forEach(k -> covered.add(Long.parseLong(k.substring(0, k.indexOf('/')))));
        assertEquals(trainIds, covered);

        JsonNode report = Json.tree(Files.readString(runDir.resolve("reports/report.json")));
        for (JsonNode m : report.get("models")) {
            if (m.get("role").asText().equals("student")) {
                assertTrue(m.get("test_accuracy").asDouble() > 0.2, "student accuracy " + m.get("test_accuracy"));
            }
        }
        double accuracy = accuracy(runDir.resolve("students/tiny-cnn/model.zip"));
        assertTrue(accuracy > 0.2, "student test accuracy " + accuracy);
    }

    /** An executor JVM killed while precompute writes: the table is complete, without duplicates, and equal to the undisturbed one. */
    @Test
    @Order(2)
    void precomputeSurvivesAnExecutorKilledMidway() throws Exception {
        Path other = tmp.resolve("run-precompute-kill");
        copy(runDir.resolve("examples"), other.resolve("examples"));
        copy(runDir.resolve("teachers"), other.resolve("teachers"));
        Run run = submit("precompute-kill", "precompute", "--config", config.toString(), "--set", "run-dir=" + other);
        String killed = run.killExecutorDuring(Pattern.compile("ResultStage (\\d+) \\(parquet at PrecomputeStage"));
        run.expectSuccess();
        assertTrue(run.log.contains("Lost executor " + killed) || run.log.contains("Executor " + killed + " lost")
                || run.log.contains("ExecutorLostFailure"), "the driver never lost executor " + killed + ":\n" + run.tail());

        Map<String, String> undisturbed = teacherRows(runDir.resolve("teacher-outputs/tiny-resnet"));
        Map<String, String> disturbed = teacherRows(other.resolve("teacher-outputs/tiny-resnet"));
        assertEquals(undisturbed, disturbed, "rows differ from the undisturbed run");
        Manifest a = Manifest.read(Storage.local(), runDir.resolve("teacher-outputs/tiny-resnet").toString());
        Manifest b = Manifest.read(Storage.local(), other.resolve("teacher-outputs/tiny-resnet").toString());
        assertEquals(a.contentHash(), b.contentHash());
        assertEquals(a.rows(), b.rows());
    }

    /**
     * Two identical distill commands started at once on one run directory: one takes the run
     * directory's lock and runs; the other stops within seconds with one line naming the lock, before
     * starting Spark. In the one that runs, an executor JVM is killed in the middle of a training round:
     * training completes, the model evaluates like the undisturbed student, and no table changed.
     */
    @Test
    @Order(3)
    void oneOfTwoConcurrentDistillsRunsAndSurvivesAnExecutorKilledMidEpoch() throws Exception {
        String examplesManifest = Files.readString(runDir.resolve("examples/_manifest.json"));
        String outputsManifest = Files.readString(runDir.resolve("teacher-outputs/tiny-resnet/_manifest.json"));
        String[] args = {"distill", "--config", config.toString(), "--set", "student.name=executor-killed"};
        Run a = submit("distill-kill", args);
        Run b = submit("distill-concurrent", args);
        // The refused one ends first, in seconds; the other is the one to disturb.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(300);
        while (a.process.isAlive() && b.process.isAlive() && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        Run loser = a.process.isAlive() ? b : a;
        Run winner = loser == a ? b : a;
        loser.expectStatus(2);
        List<String> errors = loser.log.lines().filter(l -> l.contains(": error: ")).toList();
        assertEquals(1, errors.size(), loser.tail());
        assertTrue(errors.get(0).contains("is in use") && errors.get(0).contains(runDir.resolve("_distillery.lock").toString()), errors.get(0));
        assertFalse(loser.log.contains("\tat "), "a stack trace was printed:\n" + loser.tail());
        assertFalse(loser.log.contains("SparkContext: Running Spark"), "the refused command started Spark:\n" + loser.tail());

        winner.killExecutorDuring(Pattern.compile("ResultStage (\\d+) \\(treeAggregate at ParameterAveragingTrainingMaster"));
        winner.expectSuccess();
        assertTrue(winner.log.contains("Lost executor") || winner.log.contains("ExecutorLostFailure"), winner.tail());
        Path student = runDir.resolve("students/executor-killed");
        assertEquals(EPOCHS, Files.readAllLines(student.resolve("metrics.jsonl")).size());
        double disturbed = accuracy(student.resolve("model.zip"));
        double undisturbed = accuracy(runDir.resolve("students/tiny-cnn/model.zip"));
        System.err.println("test accuracy: undisturbed " + undisturbed + ", executor killed " + disturbed);
        assertTrue(disturbed > 0.2 && Math.abs(disturbed - undisturbed) < 0.15, "test accuracy " + disturbed + " vs undisturbed " + undisturbed);

        assertEquals(examplesManifest, Files.readString(runDir.resolve("examples/_manifest.json")));
        assertEquals(outputsManifest, Files.readString(runDir.resolve("teacher-outputs/tiny-resnet/_manifest.json")));
        try (Stream<Path> entries = Stream.concat(Files.list(runDir), Files.list(runDir.resolve("students")))) {
            assertTrue(entries.noneMatch(p -> p.getFileName().toString().endsWith(".partial")), "a staging directory was left behind");
        }
        assertFalse(Files.exists(runDir.resolve("_distillery.lock")), "the lock outlived the command");
    }

    /** The driver JVM killed after a checkpoint: the same command with --resume continues from it. */
    @Test
    @Order(4)
    void distillResumesAfterTheDriverIsKilled() throws Exception {
        String[] args = {"distill", "--config", config.toString(), "--set", "student.name=driver-killed", "--set", "distill.train.epochs=3"};
        Path partialMetrics = runDir.resolve("students/driver-killed.partial/metrics.jsonl");
        Run first = submit("distill-driver-kill", args);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(300);
        while (!(Files.exists(partialMetrics) && !Files.readAllLines(partialMetrics).isEmpty()) && first.process.isAlive()
                && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        assertTrue(first.process.isAlive(), "the driver ended before its first checkpoint:\n" + first.tail());
        first.process.destroyForcibly(); // SIGKILL: no shutdown hook runs, the run directory lock stays behind
        first.process.waitFor();
        List<String> done = Files.readAllLines(partialMetrics);
        assertTrue(!done.isEmpty() && done.size() < 3, "epochs done before the kill: " + done.size());
        assertTrue(Files.exists(runDir.resolve("_distillery.lock")), "the killed driver's lock is gone");

        String[] resume = java.util.Arrays.copyOf(args, args.length + 1);
        resume[args.length] = "--resume";
        Run resumed = submit("distill-resume", resume);
        resumed.expectSuccess();
        assertTrue(resumed.log.contains("resuming after epoch " + done.size()), resumed.tail());
        assertTrue(resumed.log.contains("no longer running; taking it over"), resumed.tail());
        List<String> all = Files.readAllLines(runDir.resolve("students/driver-killed/metrics.jsonl"));
        assertEquals(3, all.size());
        assertEquals(done, all.subList(0, done.size()));
        assertTrue(accuracy(runDir.resolve("students/driver-killed/model.zip")) > 0.2);
        assertFalse(Files.exists(runDir.resolve("_distillery.lock")), "the lock outlived the command");
    }

    /**
     * Gradient sharing across the two executor JVMs: Aeron meshes the executors with the driver as
     * root, the student trains and, with its batch-norm statistics re-estimated, evaluates normally.
     */
    @Test
    @Order(5)
    void gradientSharingTrainsAcrossExecutorJvms() throws Exception {
        Run run = submit("distill-gradient-sharing", "distill", "--config", config.toString(), "--set", "student.name=gradient-sharing",
                "--set", "distill.train.mode=gradient-sharing", "--set", "distill.train.lr-schedule=constant");
        run.expectSuccess();
        assertTrue(run.log.contains("gradient sharing among 2 workers"), run.tail());
        assertTrue(run.log.contains("(executor 0)") && run.log.contains("(executor 1)"), "tasks did not run on two executors");
        List<String> epochs = Files.readAllLines(runDir.resolve("students/gradient-sharing/metrics.jsonl"));
        assertEquals(EPOCHS, epochs.size());
        double accuracy = accuracy(runDir.resolve("students/gradient-sharing/model.zip"));
        assertTrue(accuracy > 0.2, "student test accuracy " + accuracy);
    }

    // --- helpers

    /** A submitted command: its driver process and log. */
    static final class Run {
        final String name;
        final Process process;
        final Path logFile;
        final long started = System.nanoTime();
        String log = "";

        Run(String name, Process process, Path logFile) {
            this.name = name;
            this.process = process;
            this.logFile = logFile;
        }

        void read() throws IOException {
            log = Files.readString(logFile);
        }

        void expectSuccess() throws Exception {
            expectStatus(0);
        }

        void expectStatus(int status) throws Exception {
            boolean ended = process.waitFor(600, TimeUnit.SECONDS);
            if (!ended) {
                process.destroyForcibly().waitFor();
            }
            read();
            seconds.put(name, (System.nanoTime() - started) / 1_000_000_000L);
            assertTrue(ended, name + " ran over 600 s:\n" + tail());
            assertEquals(status, process.exitValue(), name + " exit status:\n" + tail());
        }

        /**
         * Waits until a stage matching {@code finalStage} (the driver's "Final stage: ResultStage N (...)"
         * line) has started a task, then kills, with SIGKILL, the executor JVM running it. Returns that
         * executor's id.
         */
        String killExecutorDuring(Pattern finalStage) throws Exception {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(300);
            while (System.nanoTime() < deadline && process.isAlive()) {
                read();
                Matcher stage = finalStage.matcher(log);
                if (stage.find()) {
                    String id = stage.group(1);
                    Matcher started = Pattern.compile("Starting task \\S+ in stage " + id + "\\.\\d+ \\(TID \\d+\\) \\(127\\.0\\.0\\.1, executor (\\d+)").matcher(log);
                    String executor = null;
                    while (started.find()) {
                        executor = started.group(1);
                    }
                    if (executor != null) {
                        ProcessHandle victim = cluster.executor(executor);
                        assertTrue(victim.destroyForcibly(), "could not kill executor " + executor);
                        victim.onExit().get(30, TimeUnit.SECONDS);
                        System.err.println(name + ": killed executor " + executor + " (pid " + victim.pid() + ") during stage " + id);
                        return executor;
                    }
                }
                Thread.sleep(20);
            }
            read();
            throw new AssertionError(name + ": the stage to disturb never started:\n" + tail());
        }

        String tail() {
            List<String> lines = log.lines().toList();
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 60), lines.size()));
        }
    }

    private static Run submit(String name, String... args) throws IOException {
        Path log = tmp.resolve(name + ".log");
        return new Run(name, cluster.submit(log, args), log);
    }

    /** Ids of the examples in one split, read from the Parquet files. */
    private static Set<Long> ids(Path table, String split) throws IOException {
        Set<Long> ids = new HashSet<>();
        for (Group g : read(table)) {
            if (g.getString(ExamplesTable.SPLIT, 0).equals(split)) {
                assertTrue(ids.add(g.getLong(ExamplesTable.ID, 0)), "duplicate example id");
            }
        }
        return ids;
    }

    /** Every teacher-outputs row as "id/view" to its logits and tap bytes; fails on a repeated (id, view). */
    private static Map<String, String> teacherRows(Path table) throws IOException {
        Map<String, String> rows = new HashMap<>();
        for (Group g : read(table)) {
            String key = g.getLong("id", 0) + "/" + g.getInteger("view", 0);
            String value = java.util.HexFormat.of().formatHex(g.getBinary("logits", 0).getBytes())
                    + ":" + Integer.toHexString(java.util.Arrays.hashCode(g.getBinary("tap_stage3", 0).getBytes()));
            assertTrue(rows.put(key, value) == null, "(id, view) " + key + " appears twice in " + table);
        }
        return rows;
    }

    private static List<Group> read(Path table) throws IOException {
        List<Group> rows = new ArrayList<>();
        List<Path> parts;
        try (Stream<Path> files = Files.walk(table)) {
            parts = files.filter(p -> p.getFileName().toString().endsWith(".parquet")).sorted().toList();
        }
        assertFalse(parts.isEmpty(), "no Parquet files in " + table);
        for (Path part : parts) {
            try (ParquetReader<Group> reader = ParquetReader.builder(new GroupReadSupport(), new org.apache.hadoop.fs.Path(part.toUri()))
                    .withConf(new Configuration()).build()) {
                for (Group g = reader.read(); g != null; g = reader.read()) {
                    rows.add(g);
                }
            }
        }
        return rows;
    }

    /** Test-split accuracy of a saved model, computed here from the examples table. */
    private static double accuracy(Path modelZip) throws IOException {
        ComputationGraph model = Models.read(Storage.local(), modelZip.toString(), false);
        ImageShape shape = new ImageShape(28, 28, 1);
        List<Group> test = read(runDir.resolve("examples")).stream().filter(g -> g.getString(ExamplesTable.SPLIT, 0).equals("test")).toList();
        float[] pixels = new float[test.size() * shape.pixelCount()];
        for (int i = 0; i < test.size(); i++) {
            ExamplesTable.toChw(test.get(i).getBinary(ExamplesTable.IMAGE, 0).getBytes(), shape, pixels, i * shape.pixelCount());
        }
        INDArray out = model.outputSingle(Nd4j.create(pixels, new long[]{test.size(), 1, 28, 28}, 'c'));
        int correct = 0;
        for (int i = 0; i < test.size(); i++) {
            correct += out.getRow(i).argMax().getInt(0) == test.get(i).getInteger(ExamplesTable.LABEL, 0) ? 1 : 0;
        }
        assertNotEquals(0, test.size());
        return correct / (double) test.size();
    }

    private static void deleteTree(Path dir) throws IOException {
        if (Files.exists(dir)) {
            try (Stream<Path> files = Files.walk(dir)) {
                for (Path f : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                    Files.delete(f);
                }
            }
        }
    }

    private static void copy(Path from, Path to) throws IOException {
        try (Stream<Path> files = Files.walk(from)) {
            for (Path f : files.toList()) {
                Path target = to.resolve(from.relativize(f).toString());
                if (Files.isDirectory(f)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(f, target);
                }
            }
        }
    }
}

package io.distillery.jobs.preflight;

import io.distillery.runtime.Storage;
import org.apache.hadoop.fs.Path;
import org.apache.spark.SparkEnv;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.stream.IntStream;

/**
 * The run directory, reachable and writable from every executor and the driver alike: each probe
 * task writes a file under {@code <run-dir>/_preflight-<uuid>/} through Hadoop's FileSystem and reads
 * it back, then the driver reads every file and deletes the folder (and the run directory itself,
 * when the probe created it). A {@code file:} run directory on a real cluster fails here: each
 * executor writes to its own disk, and the driver sees none of it.
 */
public final class RunDirProbe {
    static final String NAME = "run-dir";
    static final String PROBE_PREFIX = "_preflight-";

    private RunDirProbe() {
    }

    public static List<Check> check(SparkSession spark, Storage storage, String runDir, boolean cluster) {
        String root;
        boolean existed;
        try {
            root = storage.qualify(runDir);
            existed = storage.exists(root);
            if (existed && !storage.isDirectory(root)) {
                return List.of(Check.problem(NAME, root + " is a file, not a folder; set run-dir to a folder"));
            }
            storage.mkdirs(root);
        } catch (RuntimeException e) {
            return List.of(Check.problem(NAME, runDir + " cannot be created from the driver: " + JvmFacts.oneLine(e)
                    + "; set run-dir to a folder the driver and every executor can write (hdfs://..., s3a://..., or a shared mount)"));
        }
        String probeDir = Storage.join(root, PROBE_PREFIX + UUID.randomUUID());
        try {
            storage.mkdirs(probeDir);
            return probe(spark, storage, root, probeDir, cluster);
        } catch (RuntimeException e) {
            return List.of(Check.problem(NAME, root + " is not writable from the driver: " + JvmFacts.oneLine(e)
                    + "; set run-dir to a folder the driver and every executor can write"));
        } finally {
            try {
                storage.delete(existed ? probeDir : root);
            } catch (RuntimeException e) {
                // Reported above if writing failed; a probe folder that cannot be deleted is harmless.
            }
        }
    }

    private static List<Check> probe(SparkSession spark, Storage storage, String root, String probeDir, boolean cluster) {
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        int tasks = Math.max(1, Math.min(ExecutorProbe.MAX_TASKS, sc.defaultParallelism()));
        spark.sparkContext().setJobDescription("preflight: write and read " + probeDir + " on executors");
        List<String> results;
        try {
            results = sc.parallelize(IntStream.range(0, tasks).boxed().toList(), tasks)
                    .map(i -> writeAndRead(storage, probeDir, i)).collect();
        } catch (RuntimeException e) {
            return List.of(Check.problem(NAME, "the probe job on " + root + " failed: " + JvmFacts.oneLine(e)
                    + "; set run-dir to a folder every executor can write"));
        } finally {
            spark.sparkContext().setJobDescription(null);
        }
        List<Check> problems = new ArrayList<>();
        Set<String> executors = new LinkedHashSet<>();
        for (String r : results) {
            String[] f = r.split("\t", 4);
            String where = "driver".equals(f[1]) ? "the driver's task" : "executor " + f[1] + " on " + f[2];
            executors.add(where);
            if (f[0].equals("error")) {
                problems.add(Check.problem(NAME, root + " is not writable from " + where + ": " + f[3]
                        + "; every executor must be able to write run-dir (HDFS permissions, S3A credentials on the executors, or a shared mount)"));
            } else if (!storage.exists(f[3]) || !storage.readString(f[3]).equals(content(f[3]))) {
                problems.add(Check.problem(NAME, "a file that " + where + " wrote under " + root + " is not visible from the driver: run-dir is on "
                        + "each machine's own disk; set run-dir to HDFS, S3A or a folder every machine mounts"));
            }
            if (problems.size() >= 3) {
                break;
            }
        }
        if (!problems.isEmpty()) {
            return problems;
        }
        String message = root + ": written and read back by " + results.size() + " task(s) on " + executors.size()
                + (executors.size() == 1 && executors.contains("the driver's task") ? " JVM (the driver)" : " executor(s)") + ", visible from the driver";
        if (cluster && root.startsWith("file:")) {
            return List.of(Check.warn(NAME, message + "; but it is a local path with a cluster master: this works only where every machine mounts it"));
        }
        return List.of(Check.ok(NAME, message));
    }

    /** Runs in a task: "ok\texecutor\thost\tpath", or "error\texecutor\thost\tmessage". */
    static String writeAndRead(Storage storage, String probeDir, int task) {
        String executor = "driver";
        String host = "?";
        SparkEnv env = SparkEnv.get();
        if (env != null) {
            executor = env.executorId();
            try {
                host = env.blockManager().blockManagerId().host();
            } catch (RuntimeException e) {
                host = "?";
            }
        }
        String path = Storage.join(probeDir, "task-" + task + "-" + executor);
        try {
            try (OutputStream out = storage.fs(path).create(new Path(path), true)) {
                out.write(content(path).getBytes(StandardCharsets.UTF_8));
            }
            String back = storage.readString(path);
            if (!back.equals(content(path))) {
                return "error\t" + executor + "\t" + host + "\tread back different bytes than it wrote to " + path;
            }
            return "ok\t" + executor + "\t" + host + "\t" + path;
        } catch (IOException | RuntimeException e) {
            return "error\t" + executor + "\t" + host + "\t" + JvmFacts.oneLine(e);
        }
    }

    private static String content(String path) {
        return "distillery preflight probe " + path + "\n";
    }
}

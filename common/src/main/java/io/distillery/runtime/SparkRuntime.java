package io.distillery.runtime;

import io.distillery.config.PipelineConfig.SparkSettings;
import org.apache.spark.SparkConf;
import org.apache.spark.sql.SparkSession;

import java.util.Map;

/**
 * Starts (or joins) the Spark session every stage runs in. Precedence for each property:
 * spark-submit / {@code spark.*} system properties, then {@code --master}, then the pipeline's
 * {@code spark.conf}, then the defaults below, chosen for DL4J on Spark (Kryo with ND4J's
 * registrator, v1 committer, zstd Parquet).
 */
public final class SparkRuntime {
    static final Map<String, String> DEFAULTS = Map.of(
            "spark.serializer", "org.apache.spark.serializer.KryoSerializer",
            "spark.kryo.registrator", "org.nd4j.kryo.Nd4jRegistrator",
            "spark.kryoserializer.buffer.max", "512m",
            // SPARK-23207 class of bugs: keep the v1 committer, whose task commit is a rename.
            "spark.hadoop.mapreduce.fileoutputcommitter.algorithm.version", "1",
            "spark.sql.parquet.compression.codec", "zstd",
            "spark.ui.showConsoleProgress", "false",
            "spark.sql.adaptive.enabled", "false");

    private SparkRuntime() {
    }

    public static SparkSession session(SparkSettings settings, String masterOverride) {
        Nd4jRuntime.configure();
        SparkConf conf = new SparkConf(true);
        if (masterOverride != null && !masterOverride.isBlank()) {
            conf.setMaster(masterOverride);
        } else if (!conf.contains("spark.master")) {
            conf.setMaster(settings.master());
        }
        conf.setIfMissing("spark.app.name", settings.appName());
        settings.conf().forEach(conf::setIfMissing);
        DEFAULTS.forEach(conf::setIfMissing);
        return SparkSession.builder().config(conf).getOrCreate();
    }

    /**
     * After a failed job, waits (up to {@code maxSeconds}) for its remaining tasks to stop. A failed
     * job returns while sibling tasks are still being killed, and a task that is still writing
     * would recreate files in a staging directory we are about to delete.
     */
    public static void awaitRunningTasks(SparkSession spark, int maxSeconds) {
        var sc = spark.sparkContext();
        sc.cancelAllJobs();
        long deadline = System.nanoTime() + maxSeconds * 1_000_000_000L;
        while (System.nanoTime() < deadline) {
            boolean busy = false;
            for (var executor : sc.statusTracker().getExecutorInfos()) {
                busy |= executor.numRunningTasks() > 0;
            }
            if (!busy) {
                return;
            }
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** Runs {@code body} with a Spark job description, so the UI and logs say which stage is running. */
    public static <T> T described(SparkSession spark, String description, java.util.function.Supplier<T> body) {
        var sc = spark.sparkContext();
        String before = sc.getLocalProperty("spark.job.description");
        sc.setJobDescription(description);
        try {
            return body.get();
        } finally {
            sc.setJobDescription(before);
        }
    }
}

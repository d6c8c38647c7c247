package io.distillery.jobs.cli;

import io.distillery.config.PipelineConfig;
import io.distillery.jobs.preflight.Preflight;
import io.distillery.jobs.stages.StageContext;
import io.distillery.runtime.SparkRuntime;
import io.distillery.runtime.Storage;
import org.apache.spark.SparkConf;
import org.apache.spark.deploy.SparkHadoopUtil;
import org.apache.spark.sql.SparkSession;

import java.util.function.Function;

/**
 * Takes the run directory's lock, starts Spark for a command, runs its stages, and stops Spark and
 * releases the lock whatever happens.
 */
final class StageRunner {
    private StageRunner() {
    }

    static <T> T run(String command, PipelineOptions options, PipelineConfig config, Function<StageContext, T> stages) {
        // Before Spark starts: a second command on a busy run directory ends in seconds instead of
        // first waiting for executors that the running one holds.
        try (RunLock lock = lock(command, config)) {
            SparkSession spark = SparkRuntime.session(config.spark(), options.master);
            try {
                if (!options.noPreflight) {
                    Preflight.beforeStages(spark, config);
                }
                return stages.apply(StageContext.of(spark, config, options.force, options.resume));
            } finally {
                spark.stop();
            }
        }
    }

    /** The run directory's lock, for commands that start Spark themselves. */
    static RunLock lock(String command, PipelineConfig config) {
        return RunLock.acquire(storageBeforeSpark(config), config.runDir(), "distill " + command);
    }

    /** The Hadoop configuration Spark will have (spark-submit's and the pipeline's spark.hadoop.* settings), without starting it. */
    private static Storage storageBeforeSpark(PipelineConfig config) {
        SparkConf conf = new SparkConf(true);
        config.spark().conf().forEach(conf::setIfMissing);
        return new Storage(SparkHadoopUtil.get().newConfiguration(conf));
    }
}

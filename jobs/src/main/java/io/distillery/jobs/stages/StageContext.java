package io.distillery.jobs.stages;

import io.distillery.config.PipelineConfig;
import io.distillery.errors.BadInputException;
import io.distillery.runtime.Storage;
import io.distillery.table.Manifest;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/** What every stage function gets: the session, storage, configuration, layout and the user's flags. */
public record StageContext(SparkSession spark, Storage storage, PipelineConfig config, RunLayout layout, boolean force, boolean resume) {

    public static StageContext of(SparkSession spark, PipelineConfig config, boolean force, boolean resume) {
        Storage storage = new Storage(spark.sparkContext().hadoopConfiguration());
        return new StageContext(spark, storage, config, RunLayout.of(storage, config), force, resume);
    }

    public JavaSparkContext sc() {
        return JavaSparkContext.fromSparkContext(spark.sparkContext());
    }

    /** The manifest of an earlier stage's output, or a one-line error saying which stage makes it. */
    public Manifest require(String dir, String stage) {
        if (!storage.exists(Storage.join(dir, Manifest.FILE))) {
            throw new BadInputException(dir + " does not exist or is incomplete; run 'distill " + stage + "' first");
        }
        return Manifest.read(storage, dir);
    }

    public Dataset<Row> table(String dir) {
        return spark.read().parquet(dir);
    }
}

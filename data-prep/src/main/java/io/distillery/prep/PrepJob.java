package io.distillery.prep;

import io.distillery.config.PipelineConfig;
import io.distillery.config.PipelineConfig.DataSettings;
import io.distillery.errors.BadInputException;
import io.distillery.prep.readers.ImageSource;
import io.distillery.prep.readers.LabeledImage;
import io.distillery.runtime.SparkRuntime;
import io.distillery.runtime.Storage;
import io.distillery.table.ExamplesTable;
import io.distillery.table.Manifest;
import io.distillery.table.Provenance;
import io.distillery.table.StagedOutput;
import io.distillery.table.TableVerifier;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.stream.IntStream;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.max;
import static org.apache.spark.sql.functions.min;

/**
 * The prep stage: raw dataset files to the examples table. One Spark task streams each raw source
 * (nothing passes through the driver but the plan), Spark writes Parquet shards of
 * {@code data.shard-rows} rows, and a verification pass counts rows, checks ids are unique and
 * labels in range, and records the content hash in the manifest.
 */
public final class PrepJob {
    private static final Logger log = LoggerFactory.getLogger(PrepJob.class);

    private PrepJob() {
    }

    public static Manifest run(SparkSession spark, Storage storage, PipelineConfig config, String output, boolean force) {
        long start = System.nanoTime();
        DataSettings data = config.data();
        SourcePlanner.Plan plan = SourcePlanner.plan(storage, config);
        Provenance provenance = Provenance.of("prep", config.section("data"), plan.fingerprints());
        StagedOutput out = StagedOutput.open(storage, output, provenance, force, false);
        if (out.upToDate()) {
            log.info("prep: {} is up to date (same data and config), skipping", output);
            return Manifest.read(storage, output);
        }
        try {
            Manifest manifest = write(spark, storage, data, plan, out);
            out.commit(manifest);
            log.info("prep: wrote {} examples ({}) to {} in {} s", manifest.rows(), manifest.properties().get("split_counts"), output,
                    String.format("%.1f", (System.nanoTime() - start) / 1e9));
            return manifest;
        } catch (Exception e) {
            // Spark's own exceptions are checked ones that Scala throws undeclared: catch them all.
            SparkRuntime.awaitRunningTasks(spark, 30);
            out.abandon();
            throw e;
        }
    }

    private static Manifest write(SparkSession spark, Storage storage, DataSettings data, SourcePlanner.Plan plan, StagedOutput out) {
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        List<RawSource> sources = plan.sources();
        long seed = data.seed();
        double validation = data.validationFraction();
        double test = data.format().equals("image-folder") ? data.testFraction() : 0.0;
        JavaRDD<Row> rows = sc.parallelize(IntStream.range(0, sources.size()).boxed().toList(), Math.max(1, sources.size()))
                .mapPartitions((Iterator<Integer> indices) -> {
                    RawSource source = sources.get(indices.next());
                    return rows(source, storage, seed, validation, test);
                });
        Dataset<Row> table = spark.createDataFrame(rows, ExamplesTable.SCHEMA);
        String staging = out.staging();
        SparkRuntime.described(spark, "prep: write examples from " + sources.size() + " raw sources", () -> {
            table.write().option("maxRecordsPerFile", data.shardRows()).mode("append").parquet(staging);
            return null;
        });
        Dataset<Row> written = spark.read().parquet(staging);
        var stats = SparkRuntime.described(spark, "prep: verify examples", () -> TableVerifier.verify(written, "examples " + staging, ExamplesTable.ID));
        Row labels = written.agg(min(col(ExamplesTable.LABEL)), max(col(ExamplesTable.LABEL))).first();
        int classes = plan.classNames().isEmpty() ? labels.getInt(1) + 1 : plan.classNames().size();
        if (labels.getInt(0) < 0 || labels.getInt(1) >= classes) {
            throw new BadInputException("data.class-names lists " + classes + " classes but labels run from " + labels.getInt(0)
                    + " to " + labels.getInt(1));
        }
        List<String> classNames = plan.classNames().isEmpty()
                ? IntStream.range(0, classes).mapToObj(String::valueOf).toList() : plan.classNames();
        Map<String, Long> splitCounts = new LinkedHashMap<>();
        for (String split : ExamplesTable.SPLITS) {
            splitCounts.put(split, 0L);
        }
        for (Row r : written.groupBy(col(ExamplesTable.SPLIT)).count().collectAsList()) {
            splitCounts.put(r.getString(0), r.getLong(1));
        }
        Map<String, Object> properties = new LinkedHashMap<>();
        properties.put("dataset", data.name());
        properties.put("class_names", classNames);
        properties.put("split_counts", splitCounts);
        properties.put("pixel_scaling", "models see float pixels = uint8 / 255, NCHW");
        return new Manifest(ExamplesTable.KIND, Manifest.FORMAT_VERSION, stats.rows(), stats.contentHash(),
                ExamplesTable.columns(plan.shape()), properties, out.provenance());
    }

    /** Streams one source's records as rows; the reader is closed when the last row is taken. */
    static Iterator<Row> rows(RawSource source, Storage storage, long seed, double validation, double test) {
        ImageSource images = source.open(storage);
        return new Iterator<>() {
            long index = 0;

            @Override
            public boolean hasNext() {
                boolean more = index < source.records() && images.hasNext();
                if (!more) {
                    close();
                }
                return more;
            }

            @Override
            public Row next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                LabeledImage image = images.next();
                long id = source.firstId() + index++;
                String split = source.fixedSplit() != null ? source.fixedSplit() : Splits.assign(id, seed, validation, test);
                return RowFactory.create(id, split, image.label(), image.pixels());
            }

            private void close() {
                try {
                    images.close();
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }
        };
    }
}

package io.distillery.train;

import io.distillery.data.Augmentation;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.nd4j.linalg.dataset.api.MultiDataSet;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.pmod;
import static org.apache.spark.sql.functions.xxhash64;

/**
 * Training rows, one partition per worker, cached, and cut into averaging rounds. Each epoch deals
 * the rows into rounds by a hash of (id, seed, epoch): a fresh shuffle every epoch that a retried
 * task recomputes identically, without sorting or holding a partition in memory. Augmentation, by
 * the same kind of hash: with stored views (K rows per example) each epoch keeps view
 * 1 + xxhash64(id, seed, epoch, 5) mod K of every example; with fresh augmentation each epoch draws
 * every example's {@link Augmentation} from (id, epoch). {@link BatchAssembler} applies it.
 */
public final class RowBatches implements TrainingBatches {
    private final Dataset<Row> rows;
    private final long count;
    private final BatchAssembler assembler;
    private final long seed;
    private final int views;
    private final Augmentation fresh;

    /** @param rows training rows already partitioned one partition per worker (and persisted by the caller) */
    public RowBatches(Dataset<Row> rows, long count, BatchAssembler assembler, long seed) {
        this(rows, count, assembler, seed, 0, null);
    }

    /**
     * @param rowCount rows in {@code rows}: examples × {@code views} when views are stored
     * @param views    stored views per example in {@code rows} (columns view and Augmentation's), 0 for none
     * @param fresh    augmentation drawn afresh each epoch, or null; only without stored views
     */
    public RowBatches(Dataset<Row> rows, long rowCount, BatchAssembler assembler, long seed, int views, Augmentation fresh) {
        if (views > 0 && fresh != null) {
            throw new IllegalArgumentException("stored views and fresh augmentation exclude each other");
        }
        this.rows = rows;
        this.count = views > 0 ? rowCount / views : rowCount;
        this.assembler = assembler;
        this.seed = seed;
        this.views = views;
        this.fresh = fresh;
    }

    @Override
    public long count() {
        return count;
    }

    public BatchAssembler assembler() {
        return assembler;
    }

    public Dataset<Row> rows() {
        return rows;
    }

    @Override
    public JavaRDD<MultiDataSet> round(int epoch, int round, int rounds) {
        Dataset<Row> epochRows = ofEpoch(epoch);
        Dataset<Row> selected = rounds == 1 ? epochRows
                : epochRows.filter(pmod(xxhash64(col("id"), lit(seed), lit(epoch)), lit(rounds)).equalTo(round));
        BatchAssembler a = assembler;
        return selected.javaRDD().mapPartitions(a::batches);
    }

    /** One row per example as epoch {@code epoch} sees it: its view of the epoch, or its fresh augmentation. */
    Dataset<Row> ofEpoch(int epoch) {
        if (views > 0) {
            return rows.filter(col("view").equalTo(pmod(xxhash64(col("id"), lit(seed), lit(epoch), lit(5)), lit(views)).plus(1)));
        }
        if (fresh != null) {
            return rows.withColumn(Augmentation.DX, fresh.dx(col("id"), lit(epoch))).withColumn(Augmentation.DY, fresh.dy(col("id"), lit(epoch)))
                    .withColumn(Augmentation.FLIP, fresh.flip(col("id"), lit(epoch)));
        }
        return rows;
    }

    /** A fixed ~1/{@code stride} sample of the rows, for loss probes. */
    @Override
    public JavaRDD<MultiDataSet> sample(int stride) {
        BatchAssembler a = assembler;
        return ofEpoch(-1).filter(pmod(xxhash64(col("id"), lit(seed), lit(-1)), lit(stride)).equalTo(0))
                .javaRDD().mapPartitions(a::batches);
    }
}

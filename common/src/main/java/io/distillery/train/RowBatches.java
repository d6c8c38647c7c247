package io.distillery.train;

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
 * task recomputes identically, without sorting or holding a partition in memory.
 */
public final class RowBatches implements TrainingBatches {
    private final Dataset<Row> rows;
    private final long count;
    private final BatchAssembler assembler;
    private final long seed;

    /** @param rows training rows already partitioned one partition per worker (and persisted by the caller) */
    public RowBatches(Dataset<Row> rows, long count, BatchAssembler assembler, long seed) {
        this.rows = rows;
        this.count = count;
        this.assembler = assembler;
        this.seed = seed;
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
        Dataset<Row> selected = rounds == 1 ? rows
                : rows.filter(pmod(xxhash64(col("id"), lit(seed), lit(epoch)), lit(rounds)).equalTo(round));
        BatchAssembler a = assembler;
        return selected.javaRDD().mapPartitions(a::batches);
    }

    /** A fixed ~1/{@code stride} sample of the rows, for loss probes. */
    @Override
    public JavaRDD<MultiDataSet> sample(int stride) {
        BatchAssembler a = assembler;
        return rows.filter(pmod(xxhash64(col("id"), lit(seed), lit(-1)), lit(stride)).equalTo(0))
                .javaRDD().mapPartitions(a::batches);
    }
}

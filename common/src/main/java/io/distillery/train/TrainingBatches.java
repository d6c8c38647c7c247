package io.distillery.train;

import org.apache.spark.api.java.JavaRDD;
import org.nd4j.linalg.dataset.api.MultiDataSet;

/**
 * What the Spark trainer fits on: minibatches built on the executors, dealt into averaging rounds.
 * {@link RowBatches} builds them from stored rows; a data-free method builds them from noise that
 * each worker draws from a seed, so no images move at all.
 */
public interface TrainingBatches {

    /** Examples per epoch. */
    long count();

    /** The minibatches of one averaging round of one epoch; the same arguments give the same batches. */
    JavaRDD<MultiDataSet> round(int epoch, int round, int rounds);

    /** A fixed ~1/{@code stride} sample of an epoch's batches, for loss probes. */
    JavaRDD<MultiDataSet> sample(int stride);
}

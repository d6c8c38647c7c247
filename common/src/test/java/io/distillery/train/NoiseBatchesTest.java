package io.distillery.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.dataset.api.MultiDataSet;

/** {@link NoiseBatches}: deterministic Gaussian noise per (seed, epoch, batch), zero labels per head, rounds that partition an epoch. */
class NoiseBatchesTest {
    private static final int[] WIDTHS = {4, 1, 4};

    @Test
    void aBatchIsDeterminedByItsSeedEpochAndIndex() {
        MultiDataSet a = NoiseBatches.batch(7, 2, 3, 16, 10, WIDTHS);
        assertEquals(a.getFeatures(0), NoiseBatches.batch(7, 2, 3, 16, 10, WIDTHS).getFeatures(0));
        assertNotEquals(a.getFeatures(0), NoiseBatches.batch(7, 2, 4, 16, 10, WIDTHS).getFeatures(0));
        assertNotEquals(a.getFeatures(0), NoiseBatches.batch(7, 3, 3, 16, 10, WIDTHS).getFeatures(0));
        assertNotEquals(a.getFeatures(0), NoiseBatches.batch(8, 2, 3, 16, 10, WIDTHS).getFeatures(0));
        assertArrayEquals(new long[] {16, 10}, a.getFeatures(0).shape());
        double mean = a.getFeatures(0).meanNumber().doubleValue(), std = a.getFeatures(0).stdNumber().doubleValue();
        assertTrue(Math.abs(mean) < 0.2 && Math.abs(std - 1) < 0.2, "N(0, 1): mean " + mean + ", std " + std);
        assertEquals(3, a.getLabels().length);
        for (int h = 0; h < WIDTHS.length; h++) {
            assertArrayEquals(new long[] {16, WIDTHS[h]}, a.getLabels(h).shape());
            assertEquals(0, a.getLabels(h).sumNumber().doubleValue());
        }
    }

    @Test
    void aClassConditionalBatchCyclesThroughTheClassesAndLabelsItsClassHeads() {
        NoiseBatches.Layout layout = new NoiseBatches.Layout(10, 4, WIDTHS, new boolean[] {true, false, true});
        MultiDataSet a = NoiseBatches.batch(7, 2, 3, 16, layout);
        assertArrayEquals(new long[] {16, 14}, a.getFeatures(0).shape());
        INDArray classes = a.getFeatures(0).get(NDArrayIndex.all(), NDArrayIndex.interval(10, 14));
        assertEquals(classes, a.getLabels(0), "the class heads' labels are the one-hot classes in the input");
        assertEquals(classes, a.getLabels(2));
        assertEquals(0, a.getLabels(1).sumNumber().doubleValue());
        assertEquals(Nd4j.ones(classes.dataType(), 16), classes.sum(1), "one class per example");
        assertEquals(Nd4j.zeros(classes.dataType(), 4).addi(4), classes.sum(0), "16 examples, 4 of each class");
        INDArray offsets = Nd4j.createFromArray(
                java.util.stream.IntStream.range(0, 20).map(i -> NoiseBatches.batch(7, 0, i, 16, layout).getLabels(0).getRow(0).argMax().getInt(0))
                        .toArray());
        assertTrue(offsets.maxNumber().intValue() > offsets.minNumber().intValue(), "the first class varies between batches: " + offsets);
        assertEquals(a.getFeatures(0), NoiseBatches.batch(7, 2, 3, 16, layout).getFeatures(0), "determined by its arguments");
        assertThrows(IllegalArgumentException.class, () -> new NoiseBatches.Layout(10, 3, WIDTHS, new boolean[] {true, false, false}),
                "a class head must be as wide as the classes");
    }

    @Test
    void roundsDealAnEpochsBatchesOnTheWorkers() {
        SparkSession spark = LocalSpark.start("NoiseBatchesTest");
        try {
            NoiseBatches batches = new NoiseBatches(JavaSparkContext.fromSparkContext(spark.sparkContext()), 5, 8, NoiseBatches.Layout.noiseOnly(3, WIDTHS), 11, 2);
            assertEquals(40, batches.count());
            List<MultiDataSet> first = batches.round(0, 0, 2).collect();
            List<MultiDataSet> second = batches.round(0, 1, 2).collect();
            assertEquals(3, first.size());
            assertEquals(2, second.size());
            assertEquals(NoiseBatches.batch(11, 0, 2, 8, 3, WIDTHS).getFeatures(0), first.get(1).getFeatures(0), "batch 2 of epoch 0");
            assertEquals(first.get(0).getFeatures(0), batches.round(0, 0, 2).collect().get(0).getFeatures(0), "recomputed identically");
            assertNotEquals(first.get(0).getFeatures(0), batches.round(1, 0, 2).collect().get(0).getFeatures(0), "fresh noise every epoch");
            assertEquals(3, batches.sample(2).count());
        } finally {
            spark.stop();
        }
        assertThrows(IllegalArgumentException.class, () -> new NoiseBatches(null, 0, 8, NoiseBatches.Layout.noiseOnly(3, WIDTHS), 1, 1));
    }
}

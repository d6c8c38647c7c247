package io.distillery.train;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Batches for a data-free method (CDFKD-MFS): features = Gaussian noise [B, noiseDim] for the
 * generator, labels = zeros of each head's width. Only batch indices leave the driver; each worker
 * draws its batches' noise from a seed derived from (seed, epoch, batch index), so no images move and
 * the same arguments give the same batches (a retried task recomputes them exactly). An epoch has
 * {@code batchesPerEpoch} batches, dealt round-robin into averaging rounds.
 */
public final class NoiseBatches implements TrainingBatches, Serializable {
    /** The epoch used by {@link #sample}: its noise never appears in training. */
    static final int SAMPLE_EPOCH = -1;

    private final transient JavaSparkContext sc;
    private final int batchesPerEpoch;
    private final int batchSize;
    private final int noiseDim;
    private final int[] labelWidths;
    private final long seed;
    private final int slices;

    /**
     * @param labelWidths one label width per output head of the graph, in output order
     * @param slices      partitions per round (the number of workers)
     */
    public NoiseBatches(JavaSparkContext sc, int batchesPerEpoch, int batchSize, int noiseDim, int[] labelWidths, long seed, int slices) {
        if (batchesPerEpoch < 1 || batchSize < 1 || noiseDim < 1 || slices < 1) {
            throw new IllegalArgumentException("noise batches need positive batches per epoch, batch size, noise dim and slices, got "
                    + batchesPerEpoch + ", " + batchSize + ", " + noiseDim + ", " + slices);
        }
        this.sc = sc;
        this.batchesPerEpoch = batchesPerEpoch;
        this.batchSize = batchSize;
        this.noiseDim = noiseDim;
        this.labelWidths = labelWidths.clone();
        this.seed = seed;
        this.slices = slices;
    }

    @Override
    public long count() {
        return (long) batchesPerEpoch * batchSize;
    }

    @Override
    public JavaRDD<MultiDataSet> round(int epoch, int round, int rounds) {
        List<Integer> indices = new ArrayList<>();
        for (int b = round; b < batchesPerEpoch; b += rounds) {
            indices.add(b);
        }
        return batches(epoch, indices);
    }

    /** Every {@code stride}-th batch of a fixed epoch of its own. */
    @Override
    public JavaRDD<MultiDataSet> sample(int stride) {
        List<Integer> indices = new ArrayList<>();
        for (int b = 0; b < batchesPerEpoch; b += Math.max(1, stride)) {
            indices.add(b);
        }
        return batches(SAMPLE_EPOCH, indices);
    }

    private JavaRDD<MultiDataSet> batches(int epoch, List<Integer> indices) {
        int size = batchSize, dim = noiseDim;
        int[] widths = labelWidths;
        long s = seed;
        return sc.parallelize(indices, Math.max(1, Math.min(slices, indices.size())))
                .map(b -> batch(s, epoch, b, size, dim, widths));
    }

    /** One batch, as a worker builds it: the same arguments give the same noise. */
    public static MultiDataSet batch(long seed, int epoch, int index, int batchSize, int noiseDim, int[] labelWidths) {
        SplittableRandom random = new SplittableRandom(mix(mix(mix(seed) ^ epoch) ^ index));
        float[] noise = new float[batchSize * noiseDim];
        for (int i = 0; i < noise.length; i++) {
            noise[i] = (float) random.nextGaussian();
        }
        INDArray features = Nd4j.create(noise, new long[] {batchSize, noiseDim}, 'c').castTo(Nd4j.defaultFloatingPointType());
        INDArray[] labels = new INDArray[labelWidths.length];
        for (int h = 0; h < labelWidths.length; h++) {
            labels[h] = Nd4j.zeros(Nd4j.defaultFloatingPointType(), batchSize, labelWidths[h]);
        }
        return new org.nd4j.linalg.dataset.MultiDataSet(new INDArray[] {features}, labels);
    }

    /** SplitMix64's finaliser: spreads nearby (seed, epoch, index) triples over unrelated streams. */
    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }
}

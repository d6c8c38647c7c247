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
 * generator, labels = zeros of each head's width. A class-conditional layout ({@link Layout#classes} > 0)
 * appends a one-hot class to each noise vector, the batch cycling through the classes from a random
 * offset, and gives its class heads that one-hot as labels. Only batch indices leave the driver; each worker
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
    private final Layout layout;
    private final long seed;
    private final int slices;

    /**
     * What a batch holds.
     *
     * @param noiseDim    Gaussian values per example
     * @param classes     0, or the classes of a class-conditional generator: that many one-hot values follow the noise
     * @param labelWidths one label width per output head of the graph, in output order
     * @param classLabels per head: whether its labels are the drawn classes (one-hot, width {@code classes}) rather than zeros
     */
    public record Layout(int noiseDim, int classes, int[] labelWidths, boolean[] classLabels) implements Serializable {
        public Layout {
            if (noiseDim < 1 || classes < 0 || labelWidths.length != classLabels.length) {
                throw new IllegalArgumentException("noise layout needs a positive noise dim, classes >= 0 and one class flag per head, got "
                        + noiseDim + ", " + classes + ", " + labelWidths.length + " widths and " + classLabels.length + " flags");
            }
            for (int h = 0; h < labelWidths.length; h++) {
                if (classLabels[h] && labelWidths[h] != classes) {
                    throw new IllegalArgumentException("class head " + h + " has width " + labelWidths[h] + ", not the " + classes + " classes");
                }
            }
            labelWidths = labelWidths.clone();
            classLabels = classLabels.clone();
        }

        /** Unconditional: noise only, zero labels. */
        public static Layout noiseOnly(int noiseDim, int[] labelWidths) {
            return new Layout(noiseDim, 0, labelWidths, new boolean[labelWidths.length]);
        }

        /** The generator's input width: noise then the one-hot class. */
        public int inputWidth() {
            return noiseDim + classes;
        }
    }

    /** @param slices partitions per round (the number of workers) */
    public NoiseBatches(JavaSparkContext sc, int batchesPerEpoch, int batchSize, Layout layout, long seed, int slices) {
        if (batchesPerEpoch < 1 || batchSize < 1 || slices < 1) {
            throw new IllegalArgumentException("noise batches need positive batches per epoch, batch size and slices, got "
                    + batchesPerEpoch + ", " + batchSize + ", " + slices);
        }
        this.sc = sc;
        this.batchesPerEpoch = batchesPerEpoch;
        this.batchSize = batchSize;
        this.layout = layout;
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
        int size = batchSize;
        Layout l = layout;
        long s = seed;
        return sc.parallelize(indices, Math.max(1, Math.min(slices, indices.size())))
                .map(b -> batch(s, epoch, b, size, l));
    }

    /** One unconditional batch (see {@link Layout#noiseOnly}). */
    public static MultiDataSet batch(long seed, int epoch, int index, int batchSize, int noiseDim, int[] labelWidths) {
        return batch(seed, epoch, index, batchSize, Layout.noiseOnly(noiseDim, labelWidths));
    }

    /** One batch, as a worker builds it: the same arguments give the same noise and classes. */
    public static MultiDataSet batch(long seed, int epoch, int index, int batchSize, Layout layout) {
        SplittableRandom random = new SplittableRandom(mix(mix(mix(seed) ^ epoch) ^ index));
        int width = layout.inputWidth(), classes = layout.classes();
        float[] input = new float[batchSize * width];
        float[] oneHot = new float[batchSize * Math.max(1, classes)];
        int offset = classes > 0 ? random.nextInt(classes) : 0;
        for (int b = 0; b < batchSize; b++) {
            for (int i = 0; i < layout.noiseDim(); i++) {
                input[b * width + i] = (float) random.nextGaussian();
            }
            if (classes > 0) {
                int c = (b + offset) % classes;
                input[b * width + layout.noiseDim() + c] = 1;
                oneHot[b * classes + c] = 1;
            }
        }
        INDArray features = Nd4j.create(input, new long[] {batchSize, width}, 'c').castTo(Nd4j.defaultFloatingPointType());
        INDArray[] labels = new INDArray[layout.labelWidths().length];
        for (int h = 0; h < labels.length; h++) {
            labels[h] = layout.classLabels()[h]
                    ? Nd4j.create(oneHot, new long[] {batchSize, classes}, 'c').castTo(Nd4j.defaultFloatingPointType())
                    : Nd4j.zeros(Nd4j.defaultFloatingPointType(), batchSize, layout.labelWidths()[h]);
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

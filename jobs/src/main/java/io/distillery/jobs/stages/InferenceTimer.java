package io.distillery.jobs.stages;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

/** Images per second of {@code graph.output} at one batch size, measured after warm-up batches. */
public final class InferenceTimer {
    private InferenceTimer() {
    }

    public static double imagesPerSecond(ComputationGraph graph, INDArray images, int batchSize, int warmupBatches) {
        long n = images.size(0);
        int batches = (int) Math.max(1, n / batchSize);
        INDArray[] slices = new INDArray[batches];
        for (int b = 0; b < batches; b++) {
            long from = (long) b * batchSize;
            slices[b] = images.get(NDArrayIndex.interval(from, Math.min(n, from + batchSize))).dup();
        }
        for (int w = 0; w < warmupBatches; w++) {
            graph.output(false, slices[w % batches]);
        }
        long count = 0;
        long start = System.nanoTime();
        for (INDArray slice : slices) {
            graph.output(false, slice);
            count += slice.size(0);
        }
        return count / ((System.nanoTime() - start) / 1e9);
    }
}

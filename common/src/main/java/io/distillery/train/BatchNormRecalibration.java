package io.distillery.train;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.deeplearning4j.nn.layers.normalization.BatchNormalization;
import org.deeplearning4j.nn.params.BatchNormalizationParamInitializer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Re-estimates every batch-norm layer's running mean and variance from a few training batches, as
 * SWA's {@code update_bn} does. Gradient sharing needs it: DL4J moves the running statistics like
 * any other parameter, by threshold-encoded updates of plus or minus the threshold per step, so they
 * lag far behind the activations they should describe and the model evaluates badly.
 */
public final class BatchNormRecalibration {
    private BatchNormRecalibration() {
    }

    /**
     * One training-mode forward pass per batch (each batch-norm layer then sees its input as training
     * produced it) collects every batch-norm layer's input; its running mean and population variance
     * become the per-channel statistics pooled over all batches.
     *
     * @return the number of batch-norm layers recalibrated
     */
    public static int recalibrate(ComputationGraph graph, List<? extends MultiDataSet> batches) {
        if (batches.isEmpty()) {
            throw new IllegalArgumentException("batch-norm recalibration needs at least one batch");
        }
        Map<String, String> inputOf = new LinkedHashMap<>();
        for (GraphVertex vertex : graph.getVertices()) {
            if (vertex.hasLayer() && vertex.getLayer() instanceof BatchNormalization) {
                inputOf.put(vertex.getVertexName(), graph.getConfiguration().getVertexInputs().get(vertex.getVertexName()).get(0));
            }
        }
        Map<String, Moments> moments = new LinkedHashMap<>();
        for (MultiDataSet batch : batches) {
            Map<String, INDArray> activations = graph.feedForward(batch.getFeatures(), true);
            inputOf.forEach((bn, input) -> moments.computeIfAbsent(bn, k -> new Moments()).add(activations.get(input)));
        }
        moments.forEach((name, m) -> m.store((BatchNormalization) graph.getLayer(name)));
        return moments.size();
    }

    /** Per-channel sums over batch (and height, width) of x and x squared. */
    private static final class Moments {
        private INDArray sum;
        private INDArray sumOfSquares;
        private long count;

        void add(INDArray x) {
            int[] dims = x.rank() == 4 ? new int[]{0, 2, 3} : new int[]{0};
            INDArray s = x.sum(dims);
            INDArray sq = x.mul(x).sum(dims);
            sum = sum == null ? s : sum.addi(s);
            sumOfSquares = sumOfSquares == null ? sq : sumOfSquares.addi(sq);
            count += x.length() / x.size(1);
        }

        void store(BatchNormalization bn) {
            INDArray mean = sum.div(count);
            INDArray variance = sumOfSquares.div(count).subi(mean.mul(mean));
            INDArray globalMean = bn.getParam(BatchNormalizationParamInitializer.GLOBAL_MEAN);
            globalMean.assign(mean.reshape(globalMean.shape()));
            if (bn.paramTable().containsKey(BatchNormalizationParamInitializer.GLOBAL_LOG_STD)) {
                // DL4J's log parameterisation: log10(std) with variance = 10^(2 log10 std).
                INDArray logStd = bn.getParam(BatchNormalizationParamInitializer.GLOBAL_LOG_STD);
                logStd.assign(Transforms.log(Transforms.max(variance, 1e-12), 10).muli(0.5).reshape(logStd.shape()));
            } else {
                INDArray globalVar = bn.getParam(BatchNormalizationParamInitializer.GLOBAL_VAR);
                globalVar.assign(variance.reshape(globalVar.shape()));
            }
        }
    }
}

package io.distillery.train;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.deeplearning4j.nn.layers.normalization.BatchNormalization;
import org.deeplearning4j.nn.params.BatchNormalizationParamInitializer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.ops.transforms.Transforms;

import java.util.List;

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
     * Layer by layer in topological order (each layer's input depends on the statistics of the layers
     * before it): the mean and the population variance over the batches, per channel.
     *
     * @return the number of batch-norm layers recalibrated
     */
    public static int recalibrate(ComputationGraph graph, List<? extends MultiDataSet> batches) {
        if (batches.isEmpty()) {
            throw new IllegalArgumentException("batch-norm recalibration needs at least one batch");
        }
        int done = 0;
        for (int index : graph.topologicalSortOrder()) {
            GraphVertex vertex = graph.getVertices()[index];
            if (!vertex.hasLayer() || !(vertex.getLayer() instanceof BatchNormalization bn)) {
                continue;
            }
            String input = graph.getConfiguration().getVertexInputs().get(vertex.getVertexName()).get(0);
            INDArray sum = null;
            INDArray sumOfSquares = null;
            long count = 0;
            for (MultiDataSet batch : batches) {
                INDArray x = graph.feedForward(batch.getFeatures(), false).get(input);
                int[] dims = x.rank() == 4 ? new int[]{0, 2, 3} : new int[]{0};
                INDArray s = x.sum(dims);
                INDArray sq = x.mul(x).sum(dims);
                sum = sum == null ? s : sum.addi(s);
                sumOfSquares = sumOfSquares == null ? sq : sumOfSquares.addi(sq);
                count += x.length() / x.size(1);
            }
            INDArray mean = sum.div(count);
            INDArray variance = sumOfSquares.div(count).subi(mean.mul(mean));
            bn.getParam(BatchNormalizationParamInitializer.GLOBAL_MEAN).assign(mean.reshape(bn.getParam(BatchNormalizationParamInitializer.GLOBAL_MEAN).shape()));
            if (bn.paramTable().containsKey(BatchNormalizationParamInitializer.GLOBAL_LOG_STD)) {
                // DL4J's log parameterisation: log10(std) with variance = 10^(2 log10 std).
                INDArray logStd = Transforms.log(Transforms.max(variance, 1e-12), 10).muli(0.5);
                INDArray target = bn.getParam(BatchNormalizationParamInitializer.GLOBAL_LOG_STD);
                target.assign(logStd.reshape(target.shape()));
            } else {
                INDArray target = bn.getParam(BatchNormalizationParamInitializer.GLOBAL_VAR);
                target.assign(variance.reshape(target.shape()));
            }
            done++;
        }
        return done;
    }
}

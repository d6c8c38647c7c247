package io.distillery.layer;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.deeplearning4j.nn.graph.vertex.VertexIndices;
import org.deeplearning4j.nn.graph.vertex.impl.LayerVertex;
import org.deeplearning4j.nn.layers.ActivationLayer;
import org.deeplearning4j.nn.layers.normalization.BatchNormalization;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.impl.ActivationReLU;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The ReLU layer after a batch norm whose {@link FusedBatchNormHelper} applies the ReLU itself:
 * forward passes the helper's already clamped output through, backward passes the gradient
 * through (the helper masks it by y > 0 in the passes it makes anyway).
 *
 * <p>Why: DL4J's {@code ActivationLayer} copies its input and runs the ReLU in a second pass, and
 * in backward copies the input again before the ReLU derivative: about a sixth of a student
 * epoch in the profile, for work the batch-norm passes can do for free. The graph's configuration,
 * its saved form and its vertex names do not change: this swaps the layer object on a graph in
 * memory, as the batch-norm helper is swapped. If the input is not the helper's clamped output
 * (DL4J fell back to its own batch norm, say), the layer computes the ReLU as DL4J does, so the
 * result is right either way.
 */
public final class ReluAfterFusedBatchNorm extends ActivationLayer {
    /** Set to {@code false} to keep DL4J's own ReLU layers beside the fused batch norm. */
    public static final String ENABLED_PROPERTY = "distillery.fused-relu";
    private final FusedBatchNormHelper batchNorm;
    private boolean passedThrough;

    private ReluAfterFusedBatchNorm(ActivationLayer replaced, FusedBatchNormHelper batchNorm) {
        super(replaced.conf(), replaced.getDataType());
        this.batchNorm = batchNorm;
        setIndex(replaced.getIndex());
        setListeners(replaced.getListeners());
    }

    /**
     * Fuses every plain ReLU layer whose only input is a batch norm using {@link FusedBatchNormHelper}
     * that feeds nothing else; idempotent. Returns how many ReLU layers now pass through.
     */
    static int install(ComputationGraph graph) {
        if (!Boolean.parseBoolean(System.getProperty(ENABLED_PROPERTY, "true"))) {
            return 0;
        }
        int fused = 0;
        GraphVertex[] vertices = graph.getVertices();
        for (GraphVertex vertex : vertices) {
            if (!(vertex instanceof LayerVertex relu) || !(relu.getLayer() instanceof ActivationLayer layer)) {
                continue;
            }
            if (layer instanceof ReluAfterFusedBatchNorm) {
                fused++;
                continue;
            }
            FusedBatchNormHelper helper = fusableBatchNorm(graph, relu, layer);
            if (helper == null) {
                continue;
            }
            helper.fuseRelu();
            ReluAfterFusedBatchNorm replacement = new ReluAfterFusedBatchNorm(layer, helper);
            relu.setLayer(replacement);
            Layer[] layers = graph.getLayers();
            for (int i = 0; i < layers.length; i++) {
                if (layers[i] == layer) {
                    layers[i] = replacement;
                }
            }
            fused++;
        }
        return fused;
    }

    /** The helper of the batch norm this ReLU can be fused into, or null. */
    private static FusedBatchNormHelper fusableBatchNorm(ComputationGraph graph, LayerVertex relu, ActivationLayer layer) {
        org.deeplearning4j.nn.conf.layers.ActivationLayer conf = (org.deeplearning4j.nn.conf.layers.ActivationLayer) layer.conf().getLayer();
        boolean plainRelu = conf.getActivationFn() instanceof ActivationReLU fn
                && fn.getMax() == null && zeroOrUnset(fn.getThreshold()) && zeroOrUnset(fn.getNegativeSlope());
        VertexIndices[] inputs = relu.getInputVertices();
        if (!plainRelu || conf.getIDropout() != null || relu.getLayerPreProcessor() != null || inputs == null || inputs.length != 1) {
            return null;
        }
        GraphVertex source = graph.getVertices()[inputs[0].getVertexIndex()];
        if (!(source instanceof LayerVertex bnVertex) || !(bnVertex.getLayer() instanceof BatchNormalization bn)
                || bnVertex.getOutputVertices() == null || bnVertex.getOutputVertices().length != 1
                || graph.getConfiguration().getNetworkOutputs().contains(bnVertex.getVertexName())
                || !(bn.getHelper() instanceof FusedBatchNormHelper helper)) {
            return null;
        }
        return helper;
    }

    /** Whether the last forward passed the helper's clamped output through (for tests). */
    boolean passedThrough() {
        return passedThrough;
    }

    private static boolean zeroOrUnset(Double value) {
        return value == null || value == 0.0;
    }

    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(false);
        passedThrough = batchNorm.appliedReluTo(input);
        return passedThrough ? workspaceMgr.leverageTo(ArrayType.ACTIVATIONS, input) : super.activate(training, workspaceMgr);
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        if (!passedThrough) {
            return super.backpropGradient(epsilon, workspaceMgr);
        }
        assertInputSet(true);
        return new Pair<>(new DefaultGradient(), workspaceMgr.leverageTo(ArrayType.ACTIVATION_GRAD, epsilon));
    }
}

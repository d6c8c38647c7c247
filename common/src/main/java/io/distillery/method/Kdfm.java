package io.distillery.method;

import io.distillery.config.MethodSettings;
import io.distillery.errors.BadInputException;
import io.distillery.layer.GradientReversal;
import io.distillery.loss.AdversarialLoss;
import io.distillery.model.ModelZoo;
import io.distillery.table.ColumnSpec;
import io.distillery.vertex.BatchStacking;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayerWithBackprop;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.activations.impl.ActivationLReLU;
import org.nd4j.linalg.learning.regularization.L2Regularization;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * KDFM, Chen, Chang, Lu and Lee 2018, "Knowledge Distillation with Feature Maps for Image
 * Classification" (arXiv 1812.00660), <b>reconstructed from its abstract</b>
 * ({@value MethodSettings#RECONSTRUCTED_V0}; the method section was not read, so results are never
 * the paper's). A connector (1x1 conv, batch norm, ReLU: the teacher's head reads a post-ReLU map)
 * turns the student's feature map into the shape of the teacher tap that feeds the teacher's
 * classifier. Two techniques, each optional:
 * <ul>
 * <li><b>Shared classifier.</b> The connector feeds the teacher's own classifier head (its pool and
 * dense layers, weights copied and frozen), which becomes the student's head: CE and KD act on its
 * logits, and the deployed student keeps it (its parameters count in the student's size).</li>
 * <li><b>Adversary.</b> A small discriminator D sees the stored teacher maps (a second graph input)
 * and the connector's maps stacked along the batch (DL4J's StackVertex), and is trained to tell them apart; the
 * connector's maps pass a gradient-reversal layer first, so the same single minimisation makes the
 * student fool D. One graph with one objective is what parameter averaging trains: D's parameters
 * and updater state are averaged like the student's. Alternating generator and discriminator
 * phases would need a separate fit (an averaging round) per switch. The adversarial head's weight
 * ramps in linearly over {@code ramp-epochs} (a schedule, like any head weight) because an early,
 * confident D saturates the reversed gradient.</li>
 * </ul>
 */
public final class Kdfm implements DistillationMethod, ClassifierHead {
    public static final String CONNECTOR = "kdfm_connector";
    /** The connector's output: the student's map in the teacher tap's shape. */
    public static final String STUDENT_MAP = "kdfm_map";
    public static final String ADVERSARY = "kdfm_adversary";
    public static final String TEACHER_INPUT = "kdfm_teacher_map";
    private static final int[] DISCRIMINATOR_CHANNELS = {64, 64};

    private final MethodSettings.Kdfm settings;
    private final Supplier<ComputationGraph> teacherModel;

    /** @param teacherModel loads the teacher's DL4J graph (only the shared classifier needs it) */
    public Kdfm(MethodSettings.Kdfm settings, Supplier<ComputationGraph> teacherModel) {
        this.settings = settings;
        this.teacherModel = teacherModel;
    }

    public MethodSettings.Kdfm settings() {
        return settings;
    }

    @Override
    public String name() {
        return "kdfm";
    }

    @Override
    public void attachHead(DistillationGraph graph, String features, int classes, TeacherOutputs teacher) {
        connect(graph, teacher);
        ComputationGraph t = teacherModel.get();
        ComputationGraphConfiguration conf = t.getConfiguration();
        List<String> poolInputs = conf.getVertexInputs().get(ModelZoo.POOL);
        if (poolInputs == null || !conf.getVertices().containsKey(ModelZoo.LOGITS) || !poolInputs.equals(List.of(settings.teacherTap()))) {
            throw new BadInputException("kdfm.shared-classifier: the teacher's classifier head must be '" + ModelZoo.POOL + "' -> '"
                    + ModelZoo.LOGITS + "' reading tap '" + settings.teacherTap() + "' (a Distillery zoo teacher); teacher "
                    + teacher.name() + "'s '" + ModelZoo.POOL + "' reads " + poolInputs);
        }
        Layer pool = layerConf(conf, ModelZoo.POOL).clone();
        Layer dense = layerConf(conf, ModelZoo.LOGITS).clone();
        if (!(dense instanceof DenseLayer d) || d.getNOut() != classes) {
            throw new BadInputException("kdfm.shared-classifier: teacher layer '" + ModelZoo.LOGITS + "' must be a dense layer with "
                    + classes + " outputs, got " + dense);
        }
        // DL4J M2.1 updates a FrozenLayerWithBackprop's parameters with the wrapped layer's updater and
        // regularization: its gradient is zero, but l2 alone, through Adam, moved the "frozen" weights by
        // about the learning rate every step (KdfmTest). A zero l2 keeps them still (an empty list would be
        // replaced by the global l2 when the graph is built).
        ((DenseLayer) dense).setRegularization(new ArrayList<>(List.of(new L2Regularization(0.0))));
        ((DenseLayer) dense).setRegularizationBias(new ArrayList<>(List.of(new L2Regularization(0.0))));
        graph.builder()
                .addLayer(ModelZoo.POOL, pool, STUDENT_MAP)
                .addLayer(ModelZoo.LOGITS, new FrozenLayerWithBackprop(dense), ModelZoo.POOL);
        var teacherParams = t.getLayer(ModelZoo.LOGITS).params().dup();
        graph.onInit(g -> g.getLayer(ModelZoo.LOGITS).setParams(teacherParams));
    }

    @Override
    public void attach(DistillationGraph graph, TeacherOutputs teacher) {
        if (settings.adversarialWeight() <= 0) {
            return;
        }
        ColumnSpec tap = connect(graph, teacher);
        graph.addInput(new GraphInput(TEACHER_INPUT, teacher.tap(settings.teacherTap()), tap.shape()));
        graph.builder()
                .addLayer("kdfm_reversal", new GradientReversal(1.0), STUDENT_MAP)
                .addVertex("kdfm_stack", BatchStacking.stack(), "kdfm_reversal", TEACHER_INPUT)
                .addLayer("kdfm_d1", conv(DISCRIMINATOR_CHANNELS[0], 1, 1), "kdfm_stack")
                .addLayer("kdfm_d2", conv(DISCRIMINATOR_CHANNELS[1], 3, 2), "kdfm_d1")
                .addLayer("kdfm_d_pool", new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), "kdfm_d2")
                .addLayer("kdfm_d_logit", new DenseLayer.Builder().nOut(1).activation(Activation.IDENTITY).build(), "kdfm_d_pool")
                // [2B, 1] back to B rows of (student, teacher) logits: every array at a loss layer keeps the batch's B rows.
                .addVertex("kdfm_d_pairs", BatchStacking.halvesToColumns(), "kdfm_d_logit")
                .addLayer(ADVERSARY, new LossLayer.Builder(new AdversarialLoss(settings.adversarialWeight(), settings.realLabel()))
                        .activation(Activation.IDENTITY).build(), "kdfm_d_pairs");
        graph.addHead(ADVERSARY, new LabelSource.Zeros(1));
    }

    /** Linear ramp of the adversarial head over {@code ramp-epochs}: 1/R, 2/R, ..., 1. */
    @Override
    public Map<String, List<Double>> schedule(List<String> heads) {
        if (settings.adversarialWeight() <= 0 || settings.rampEpochs() == 0) {
            return Map.of();
        }
        List<Double> ramp = new ArrayList<>();
        for (int e = 1; e <= settings.rampEpochs(); e++) {
            ramp.add((double) e / settings.rampEpochs());
        }
        return Map.of(ADVERSARY, ramp);
    }

    /** Adds the connector once (the head and the adversary share it); returns the teacher tap it matches. */
    private ColumnSpec connect(DistillationGraph graph, TeacherOutputs teacher) {
        ColumnSpec tap = teacher.tapSpec(settings.teacherTap());
        FeatureMaps.requireSameSpatialShape(graph, "kdfm", settings.studentLayer(), settings.teacherTap(), tap.shape());
        if (!graph.hasVertex(STUDENT_MAP)) {
            graph.builder()
                    .addLayer(CONNECTOR, new ConvolutionLayer.Builder(1, 1).nOut(tap.shape().get(0)).hasBias(false)
                            .activation(Activation.IDENTITY).build(), settings.studentLayer())
                    .addLayer(CONNECTOR + "_bn", new BatchNormalization.Builder().build(), CONNECTOR)
                    .addLayer(STUDENT_MAP, new ActivationLayer.Builder().activation(Activation.RELU).build(), CONNECTOR + "_bn");
        }
        return tap;
    }

    private static ConvolutionLayer conv(int channels, int kernel, int stride) {
        return new ConvolutionLayer.Builder(kernel, kernel).stride(stride, stride).nOut(channels)
                .activation(new ActivationLReLU(0.2)).build();
    }

    private static Layer layerConf(ComputationGraphConfiguration conf, String vertex) {
        if (!(conf.getVertices().get(vertex) instanceof LayerVertex v)) {
            throw new BadInputException("kdfm.shared-classifier: teacher vertex '" + vertex + "' is not a layer");
        }
        return v.getLayerConf().getLayer();
    }

    @Override
    public String toString() {
        return "Kdfm" + settings;
    }
}

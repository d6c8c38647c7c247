package io.distillery.method;

import io.distillery.config.MethodSettings;
import io.distillery.loss.NormalizedL1Loss;
import io.distillery.table.ColumnSpec;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.deeplearning4j.nn.conf.preprocessor.CnnToFeedForwardPreProcessor;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.activations.impl.ActivationLReLU;

import java.util.List;

/**
 * Parallel FEED, Park and Kwak, ECAI 2020, "Feature-Level Ensemble Knowledge Distillation for
 * Aggregating Knowledge from Multiple Networks", <b>reconstructed</b> ({@value MethodSettings#RECONSTRUCTED_V0}:
 * the loss from the paper's equations, the rest from Factor Transfer's code and the method card
 * feed.md; the paper's tables were not read, so results are never the paper's). Every ensemble
 * member k gets its own non-linear translator on one student feature map, three 3x3 convolutions
 * (C_s→C_s→C_t→C_t, stride 1, same padding, LeakyReLU 0.1 after each), whose output matches that
 * member's raw stored tap under {@link NormalizedL1Loss}; the heads' losses add up (the paper sums
 * over teachers): {@code CE + β Σ_k ‖u(T_k(F_s)) − u(F_t^k)‖₁}. No KD logit term (CE comes from
 * {@link LabelCrossEntropy}). Separate translators let one student feature serve several
 * teachers without forcing it to equal any of them; they are dropped from the deployed student.
 *
 * <p>A single-teacher table is its own only member: one translator, head {@value #HEAD}. An
 * ensemble's members give heads {@code feed_<member prefix without its trailing "__">}.
 *
 * @param weight       β, each head's {@link NormalizedL1Loss} weight (a sum over the map's values, see there)
 * @param studentLayer the student feature map translated (same height and width as the teacher tap)
 * @param teacherTap   the {@code precompute.taps} string of every member's raw tap, e.g. {@code stage3}
 */
public record ParallelFeed(double weight, String studentLayer, String teacherTap) implements DistillationMethod {
    public static final String HEAD = "feed";
    public static final String VARIANT = MethodSettings.RECONSTRUCTED_V0;
    /** The translator's LeakyReLU slope, Factor Transfer's code's. */
    public static final double LEAKY_SLOPE = 0.1;

    public ParallelFeed(MethodSettings.Feed settings) {
        this(settings.weight(), settings.studentLayer(), settings.teacherTap());
    }

    @Override
    public String name() {
        return HEAD;
    }

    @Override
    public void attach(DistillationGraph graph, TeacherOutputs teacher) {
        InputType.InputTypeConvolutional student = FeatureMaps.featureMap(graph, HEAD, studentLayer);
        for (TeacherOutputs member : teacher.members()) {
            ColumnSpec spec = member.tapSpec(teacherTap);
            FeatureMaps.requireSameSpatialShape(graph, HEAD, studentLayer, spec.name(), spec.shape());
            int channels = spec.shape().get(0);
            String head = FeatureMaps.uniqueHead(graph, head(member));
            graph.builder()
                    .addLayer(head + "_ntl1", translatorConv((int) student.getChannels()), studentLayer)
                    .addLayer(head + "_ntl2", translatorConv(channels), head + "_ntl1")
                    .addLayer(head + "_ntl3", translatorConv(channels), head + "_ntl2")
                    .addLayer(head, new LossLayer.Builder(new NormalizedL1Loss(weight)).activation(Activation.IDENTITY).build(),
                            new CnnToFeedForwardPreProcessor(spec.shape().get(1), spec.shape().get(2), channels), head + "_ntl3");
            graph.addHead(head, member.tap(teacherTap));
        }
    }

    /** {@value #HEAD} for a table's own view, {@code feed_<member>} for an ensemble member. */
    static String head(TeacherOutputs member) {
        String prefix = member.prefix();
        prefix = prefix.endsWith("__") ? prefix.substring(0, prefix.length() - 2) : prefix;
        return prefix.isEmpty() ? HEAD : HEAD + "_" + prefix;
    }

    private static ConvolutionLayer translatorConv(int channels) {
        return new ConvolutionLayer.Builder(3, 3).stride(1, 1).convolutionMode(ConvolutionMode.Same).nOut(channels)
                .activation(new ActivationLReLU(LEAKY_SLOPE)).build();
    }

    /** Names the formulation, so that run manifests record which one trained. */
    @Override
    public String toString() {
        return "ParallelFeed[variant=" + VARIANT + ", weight=" + weight + ", studentLayer=" + studentLayer + ", teacherTap=" + teacherTap + "]";
    }
}

package io.distillery.method;

import io.distillery.config.MethodSettings;
import io.distillery.config.ModelSpec;
import io.distillery.config.TrainSettings;
import io.distillery.data.ImageShape;
import io.distillery.errors.BadInputException;
import io.distillery.layer.GradientReversal;
import io.distillery.loss.BatchStatsLoss;
import io.distillery.loss.ScaledLoss;
import io.distillery.model.ModelZoo;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.graph.MergeVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.DepthwiseConvolution2D;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.conf.layers.Upsampling2D;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayerWithBackprop;
import org.deeplearning4j.nn.conf.preprocessor.CnnToFeedForwardPreProcessor;
import org.deeplearning4j.nn.conf.preprocessor.FeedForwardToCnnPreProcessor;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.params.BatchNormalizationParamInitializer;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.activations.impl.ActivationLReLU;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.learning.regularization.L2Regularization;
import org.nd4j.linalg.learning.regularization.Regularization;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.nd4j.linalg.lossfunctions.impl.LossL1;
import org.nd4j.linalg.lossfunctions.impl.LossMCXENT;
import io.distillery.train.NoiseBatches;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.api.buffer.DataType;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * CDFKD-MFS (Hao et al., "Model Compression via Collaborative Data-Free Knowledge Distillation for
 * Edge Intelligence", TMM 2022; code Hao840/CDFKD-MFS), variant {@value MethodSettings#RECONSTRUCTED_V0}:
 * K frozen teachers, a generator and a multi-header student in <b>one</b> ComputationGraph, so that
 * Spark parameter averaging trains it like any other student graph (the card's alternating 5:1
 * student/generator steps would need a fit, i.e. an averaging round, per switch).
 *
 * <pre>
 * noise [B, z] → generator → gen_image ─┬→ GRL(λ) → student trunk (zoo stage1..S) → N headers → h{i}_logits → mean = logits
 *                                       └→ teacher k (frozen, inference mode) → t{k}_logits → GRL(λ)
 * heads: cdfkd_h{i} = L1(h{i}_logits − t{i mod K}_logits), cdfkd_ensemble = L1(logits − mean_k t{k}_logits),
 *        cdfkd_bn_t{k}_{bn} = BatchStatsLoss on the input of every teacher BN (generator only),
 *        cdfkd_class_t{k} = class-weight/K · CE(softmax(t{k}_logits), drawn class) (class-weight > 0 only; generator only)
 * </pre>
 *
 * <p><b>Class-conditional generator (ours, off by default).</b> With class-weight > 0 each noise vector
 * carries a one-hot class ({@link NoiseBatches.Layout}: the batch cycles through the classes) and the
 * generator also descends the teachers' cross-entropy against it, on the teachers' logits before the
 * reversal, so it reaches the generator only. This is not in the card: on Fashion-MNIST with a few
 * hundred steps, the card's game alone produced images the teachers put in 3 or 4 classes, and the
 * student learnt little about the others.
 *
 * <p><b>Who moves what.</b> The student descends w_s·(1/N)Σ_i mean|s_i − t_i| + w_e·mean|s̄ − t̄| (L1
 * means over classes: DL4J's L1 sums over outputs, hence the factors 1/(N·C) and 1/C). Gradients
 * reaching the generator through the student or through a teacher's logits pass a gradient reversal
 * with λ = reversal-scale·w_g/w_s, so the generator ascends reversal-scale·w_g times the per-header
 * discrepancy; it descends the batch-statistics term w_bn·r_l/K per teacher BN layer directly (r = first-bn-ratio for
 * each teacher's first BN, 1 otherwise), which never reaches the student. The card's generator does
 * not ascend the ensemble term, but one graph cannot cut the generator's share of a loss without
 * cutting the student's (they share the student's path), so <b>here the generator also ascends
 * reversal-scale·w_g/w_s·w_e times the ensemble term</b>. Reversal-scale < 1 is our stand-in for the
 * card's 5 student steps per generator step: under Adam a uniform scale of the generator's gradient
 * would cancel, so in effect it weights the adversarial terms against the batch-statistics term.
 * The feature term (w_f) is not built: it needs teacher and student feature widths to match (w_f = 0
 * in this variant). Without labelled samples the deployable student averages its headers; with
 * attention-samples > 0, {@link HeaderAttentionStep} trains the card's attention over them afterwards
 * ({@link #attentionStudentConfiguration()}).
 *
 * <p><b>Teachers in inference mode.</b> Every teacher layer is wrapped in
 * {@link FrozenLayerWithBackprop} (NoOp updater, L2(0): see {@link Kdfm} for why a frozen layer's
 * regularization must be zeroed), which runs the layer in test mode and passes epsilon back. For
 * batch normalization that is not enough in DL4J 1.0.0-M2.1: the forward uses the running statistics,
 * but the backward applies the training-mode formula with batch statistics the forward never kept:
 * with workspaces (the default) it throws, without them the generator's gradient is wrong
 * ({@code CdfkdMfsTest} shows both). Each teacher BN is therefore replaced by the affine map it
 * computes in inference mode, a frozen 1x1 {@link DepthwiseConvolution2D} with weight γ/√(σ²+ε) and
 * bias β − μ·γ/√(σ²+ε) (identity activation: DL4J's BN ignores its configured one): the same logits
 * (up to float rounding of the folded weights), a
 * correct gradient.
 *
 * <p><b>Student.</b> The zoo's trunk (stage1..S, its own pool and logits unused) and N headers:
 * a1 = E(U1), a_l = E(concat(U_l, a_{l−1})), E = two (separable 3x3 conv, BN, ReLU) pairs, the first
 * strided so a_l has U_{l+1}'s size, widths those of U_{l+1} (U_S for the last); then GAP and a dense
 * layer: h{i}_logits. The deployable graph ({@link #studentConfiguration()}) is the same layers reading
 * {@value ModelZoo#INPUT}, {@value ModelZoo#LOGITS} = their mean, plus a softmax {@value ModelZoo#OUTPUT}.
 *
 * <p><b>Learning rates.</b> Generator layers use Adam at generator-learning-rate, student layers
 * the student's Adam; {@code ComputationGraph.setLearningRate(double)} would overwrite both (and
 * fails on this graph once it has trained), so a trainer must use {@link #setLearningRates}.
 */
public final class CdfkdMfs {
    public static final String NOISE = "noise";
    /** The generated images [B, C, H, W]: the teachers' input. */
    public static final String IMAGE = "gen_image";
    /** gen_image behind the gradient reversal: the student's input in the training graph. */
    public static final String STUDENT_IMAGE = "gen_reversed";
    public static final String ENSEMBLE = "cdfkd_ensemble";
    public static final String HEADER_PREFIX = "cdfkd_h";
    public static final String BN_PREFIX = "cdfkd_bn_";
    /** Class-conditional heads (class-weight > 0): cross-entropy of teacher k's logits against the drawn class. */
    public static final String CLASS_PREFIX = "cdfkd_class_t";
    static final int[] GENERATOR_WIDTHS = {128, 64};
    private static final double GENERATOR_BN_EPS = 0.8;

    private final MethodSettings.CdfkdMfs settings;
    private final ModelSpec spec;
    private final ImageShape image;
    private final int classes;
    private final TrainSettings train;
    private final List<ComputationGraph> teachers;
    private final int[] generatorWidths;
    private final int headers;

    private final ComputationGraphConfiguration studentConf;
    private final ComputationGraphConfiguration trainingConf;
    private final List<String> outputs = new ArrayList<>();
    /** Per output head: its label width, and whether its labels are the drawn classes (else zeros). */
    private final List<Integer> labelWidths = new ArrayList<>();
    private final List<Boolean> classLabels = new ArrayList<>();
    private final Set<String> generatorLayers = new LinkedHashSet<>();
    private final Set<String> teacherLayers = new LinkedHashSet<>();
    private final List<Consumer<ComputationGraph>> teacherLoaders = new ArrayList<>();

    /**
     * @param teachers trained zoo-style graphs (image input {@value ModelZoo#INPUT} of {@code image}'s shape,
     *                 a dense {@value ModelZoo#LOGITS} with {@code classes} outputs); only read
     */
    public CdfkdMfs(MethodSettings.CdfkdMfs settings, ModelSpec student, ImageShape image, int classes, TrainSettings train,
            List<ComputationGraph> teachers) {
        this(settings, student, image, classes, train, teachers, GENERATOR_WIDTHS);
    }

    /** As above with the generator's two conv widths (the card's 128 and 64) scaled, for small tests. */
    public CdfkdMfs(MethodSettings.CdfkdMfs settings, ModelSpec student, ImageShape image, int classes, TrainSettings train,
            List<ComputationGraph> teachers, int[] generatorWidths) {
        settings.validate();
        if (teachers.isEmpty()) {
            throw new BadInputException("cdfkd-mfs needs at least one teacher");
        }
        if (image.height() % 4 != 0 || image.width() % 4 != 0) {
            throw new BadInputException("cdfkd-mfs: the generator upsamples x4, so image height and width must be multiples of 4, got "
                    + image);
        }
        this.settings = settings;
        this.spec = student;
        this.image = image;
        this.classes = classes;
        this.train = train;
        this.teachers = List.copyOf(teachers);
        this.generatorWidths = generatorWidths.clone();
        this.headers = settings.headersFor(teachers.size());
        this.studentConf = buildStudent(false);
        this.trainingConf = buildTraining();
    }

    public MethodSettings.CdfkdMfs settings() {
        return settings;
    }

    /** The gradient-reversal factor on the generator's paths into the losses: reversal-scale·w_g/w_s. */
    public double reversalLambda() {
        return settings.headerWeight() == 0 ? 0 : settings.reversalScale() * settings.generatorWeight() / settings.headerWeight();
    }

    public int headers() {
        return headers;
    }

    /** Output heads of the training graph, in order; {@link #noiseLayout()} gives their labels. */
    public List<String> outputs() {
        return List.copyOf(outputs);
    }

    /**
     * What a training batch holds: the generator's noise (plus the one-hot class when class-weight > 0),
     * and per head zeros (every head but the class heads compares graph activations only) or the classes.
     */
    public NoiseBatches.Layout noiseLayout() {
        boolean[] flags = new boolean[classLabels.size()];
        for (int h = 0; h < flags.length; h++) {
            flags[h] = classLabels.get(h);
        }
        return new NoiseBatches.Layout(settings.noiseDim(), conditional() ? classes : 0,
                labelWidths.stream().mapToInt(Integer::intValue).toArray(), flags);
    }

    private boolean conditional() {
        return settings.classWeight() > 0;
    }

    public Set<String> generatorLayers() {
        return Set.copyOf(generatorLayers);
    }

    public Set<String> teacherLayers() {
        return Set.copyOf(teacherLayers);
    }

    public ComputationGraphConfiguration trainingConfiguration() {
        return trainingConf.clone();
    }

    /** The training graph, initialised, with the teachers' parameters loaded. */
    public ComputationGraph trainingGraph() {
        ComputationGraph g = new ComputationGraph(trainingConfiguration());
        g.init();
        teacherLoaders.forEach(l -> l.accept(g));
        return g;
    }

    /** Generator layers at generator-learning-rate, student layers at {@code studentRate}; teachers untouched. */
    public void setLearningRates(ComputationGraph training, double studentRate) {
        for (String layer : studentLayerNames()) {
            setRate(training, layer, studentRate);
        }
        for (String layer : generatorLayers) {
            setRate(training, layer, settings.generatorLearningRate());
        }
    }

    /**
     * Sets the rate in place in the layer's updater configuration, both in the live graph (the updater
     * reads it at every step) and in the graph's configuration (what Spark broadcasts). DL4J's own
     * {@code setLearningRate}, global or per layer, rebuilds the updater state and fails on this graph
     * once it has an updater (NullPointerException in NetworkUtils.rebuildUpdaterStateArray, M2.1).
     */
    private static void setRate(ComputationGraph graph, String layer, double rate) {
        setRate(graph.getLayer(layer).conf().getLayer(), rate);
        if (graph.getConfiguration().getVertices().get(layer) instanceof LayerVertex v) {
            setRate(v.getLayerConf().getLayer(), rate);
        }
    }

    private static void setRate(Layer layer, double rate) {
        if (layer instanceof BaseLayer b) {
            for (org.nd4j.linalg.learning.config.IUpdater u : new org.nd4j.linalg.learning.config.IUpdater[] {b.getIUpdater(), b.getBiasUpdater()}) {
                if (u != null && u.hasLearningRate()) {
                    u.setLrAndSchedule(rate, null);
                }
            }
        }
    }

    /** The deployable student: trunk and headers reading {@value ModelZoo#INPUT}, logits = mean of headers, softmax output. */
    public ComputationGraphConfiguration studentConfiguration() {
        return studentConf.clone();
    }

    /** The deployable student with the trained parameters (copied by layer name) of {@code training}. */
    public ComputationGraph student(ComputationGraph training) {
        return StudentGraphs.withParamsOf(studentConfiguration(), training);
    }

    // ---------------------------------------------------------------- the deployable student

    /**
     * The deployable student with the card's attention over the headers ({@link HeaderAttention}) in
     * place of their mean; at its initialisation it computes the same logits.
     */
    public ComputationGraphConfiguration attentionStudentConfiguration() {
        return buildStudent(true);
    }

    /** The headers' logits layers, h0_logits .. h{N-1}_logits. */
    public String[] headerLogits() {
        String[] names = new String[headers];
        for (int i = 0; i < headers; i++) {
            names[i] = "h" + i + "_logits";
        }
        return names;
    }

    private ComputationGraphConfiguration buildStudent(boolean attention) {
        ComputationGraphConfiguration.GraphBuilder g = ModelZoo.features(spec, image, train);
        Map<String, InputType> types = g.setOutputs(ModelZoo.lastStage(spec)).build()
                .getLayerActivationTypes(ModelZoo.inputType(image));
        int stages = spec.widths().size();
        String[] headerLogits = new String[headers];
        for (int i = 0; i < headers; i++) {
            String previous = null;
            for (int l = 1; l <= stages; l++) {
                String in = "stage" + l;
                if (previous != null) {
                    in = "h" + i + "_cat" + l;
                    g.addVertex(in, new MergeVertex(), "stage" + l, previous);
                }
                int width = spec.widths().get(Math.min(l, stages - 1));
                previous = separableBlock(g, "h" + i + "_e" + l, in, width, stride(types, l, stages));
            }
            g.addLayer("h" + i + "_pool", new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), previous)
                    .addLayer("h" + i + "_logits", new DenseLayer.Builder().nOut(classes).activation(Activation.IDENTITY).build(),
                            "h" + i + "_pool");
            headerLogits[i] = "h" + i + "_logits";
        }
        if (attention) {
            HeaderAttention.add(g, ModelZoo.LOGITS, headerLogits, classes);
        } else {
            g.addVertex(ModelZoo.LOGITS, new ElementWiseVertex(ElementWiseVertex.Op.Average), headerLogits);
        }
        return g.addLayer(ModelZoo.OUTPUT, new LossLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX).build(),
                        ModelZoo.LOGITS)
                .setOutputs(ModelZoo.OUTPUT)
                .build();
    }

    /** Stride of header block l: takes U_l's size to U_{l+1}'s (1 or 2, ConvolutionMode.Same rounds up); 2 for the last. */
    private static int stride(Map<String, InputType> types, int l, int stages) {
        InputType.InputTypeConvolutional here = (InputType.InputTypeConvolutional) types.get("stage" + l);
        if (l == stages) {
            return here.getHeight() >= 2 && here.getWidth() >= 2 ? 2 : 1;
        }
        InputType.InputTypeConvolutional next = (InputType.InputTypeConvolutional) types.get("stage" + (l + 1));
        for (int s = 1; s <= 2; s++) {
            if ((here.getHeight() + s - 1) / s == next.getHeight() && (here.getWidth() + s - 1) / s == next.getWidth()) {
                return s;
            }
        }
        throw new BadInputException("cdfkd-mfs: student stage" + l + " (" + here + ") and stage" + (l + 1) + " (" + next
                + ") differ by more than a stride of 2; headers cannot join them");
    }

    /**
     * E: separable 3x3 conv (strided), BN, ReLU, separable 3x3 conv, BN, ReLU (the card's SepConv). Each
     * separable conv is a depthwise 3x3 then a pointwise 1x1 layer: DL4J's SeparableConvolution2D
     * computes the same thing but made the student's forward 9x slower on CPU (1.35 s against 0.15 s for
     * 128 images, cnn4 with two headers; its sconv2d op has no oneDNN path in 1.0.0-M2.1).
     */
    private static String separableBlock(ComputationGraphConfiguration.GraphBuilder g, String name, String in, int width, int stride) {
        separableConv(g, name + "_sep1", in, width, stride)
                .addLayer(name + "_bn1", new BatchNormalization.Builder().build(), name + "_sep1")
                .addLayer(name + "_relu1", new ActivationLayer.Builder().activation(Activation.RELU).build(), name + "_bn1");
        separableConv(g, name + "_sep2", name + "_relu1", width, 1)
                .addLayer(name + "_bn2", new BatchNormalization.Builder().build(), name + "_sep2")
                .addLayer(name + "_out", new ActivationLayer.Builder().activation(Activation.RELU).build(), name + "_bn2");
        return name + "_out";
    }

    /** Depthwise 3x3 ({@code name}_dw) then pointwise 1x1 to {@code width} ({@code name}), no biases (a BN follows). */
    private static ComputationGraphConfiguration.GraphBuilder separableConv(ComputationGraphConfiguration.GraphBuilder g, String name, String in,
            int width, int stride) {
        return g.addLayer(name + "_dw", new DepthwiseConvolution2D.Builder(3, 3).stride(stride, stride).depthMultiplier(1).hasBias(false)
                        .activation(Activation.IDENTITY).build(), in)
                .addLayer(name, new ConvolutionLayer.Builder(1, 1).nOut(width).hasBias(false).activation(Activation.IDENTITY).build(),
                        name + "_dw");
    }

    // ---------------------------------------------------------------- the training graph

    private ComputationGraphConfiguration buildTraining() {
        ComputationGraphConfiguration.GraphBuilder g = new NeuralNetConfiguration.Builder()
                .seed(train.seed())
                .updater(new Adam(settings.generatorLearningRate())) // the generator's; copied layers keep their own
                .weightInit(WeightInit.RELU)
                .convolutionMode(ConvolutionMode.Same)
                .graphBuilder()
                .addInputs(NOISE)
                .setInputTypes(InputType.feedForward(settings.noiseDim() + (conditional() ? classes : 0)));
        addGenerator(g);
        double lambda = reversalLambda();
        g.addLayer(STUDENT_IMAGE, new GradientReversal(lambda), IMAGE);
        copyStudent(g);
        String[] teacherLogits = new String[teachers.size()];
        for (int k = 0; k < teachers.size(); k++) {
            String logits = addTeacher(g, k);
            if (conditional()) {
                // Before the reversal: the generator descends it; the frozen teacher passes it back, the student never sees it.
                addHead(g, CLASS_PREFIX + k, logits, new LossLayer.Builder(new ScaledLoss(new LossMCXENT(), settings.classWeight() / teachers.size()))
                        .activation(Activation.SOFTMAX).build(), classes, true);
            }
            teacherLogits[k] = "t" + k + "_reversed";
            g.addLayer(teacherLogits[k], new GradientReversal(lambda), logits);
        }
        if (settings.headerWeight() > 0) {
            for (int i = 0; i < headers; i++) {
                String diff = HEADER_PREFIX + i + "_diff";
                g.addVertex(diff, new ElementWiseVertex(ElementWiseVertex.Op.Subtract), "h" + i + "_logits",
                        teacherLogits[i % teachers.size()]);
                addL1Head(g, HEADER_PREFIX + i, diff, settings.headerWeight() / ((double) headers * classes));
            }
        }
        if (settings.ensembleWeight() > 0) {
            g.addVertex("cdfkd_teacher_mean", new ElementWiseVertex(ElementWiseVertex.Op.Average), teacherLogits)
                    .addVertex(ENSEMBLE + "_diff", new ElementWiseVertex(ElementWiseVertex.Op.Subtract), ModelZoo.LOGITS, "cdfkd_teacher_mean");
            addL1Head(g, ENSEMBLE, ENSEMBLE + "_diff", settings.ensembleWeight() / classes);
        }
        g.setOutputs(outputs.toArray(new String[0]));
        return g.build();
    }

    /**
     * DAFL's generator sized for the image: dense to [w0, H/4, W/4], BN, (up x2, conv, BN, LReLU) x2,
     * conv to C, BN, then a sigmoid instead of DAFL's tanh and affine-free BN: our teachers read pixels
     * in [0, 1], not standardised images, and a learnt BN affine before the sigmoid lets the generator
     * find their range without any statistic of the real data. The activations are layers of their
     * own because DL4J's BatchNormalization ignores a configured activation.
     */
    private void addGenerator(ComputationGraphConfiguration.GraphBuilder g) {
        int h0 = image.height() / 4, w0 = image.width() / 4, wide = generatorWidths[0], narrow = generatorWidths[1];
        ActivationLReLU lrelu = new ActivationLReLU(0.2);
        g.addLayer("gen_fc", new DenseLayer.Builder().nOut((long) wide * h0 * w0).activation(Activation.IDENTITY).build(), NOISE)
                .addLayer("gen_bn0", new BatchNormalization.Builder().activation(Activation.IDENTITY).build(),
                        new FeedForwardToCnnPreProcessor(h0, w0, wide), "gen_fc")
                .addLayer("gen_up1", new Upsampling2D.Builder(2).build(), "gen_bn0")
                .addLayer("gen_conv1", new ConvolutionLayer.Builder(3, 3).nOut(wide).activation(Activation.IDENTITY).build(), "gen_up1")
                .addLayer("gen_bn1", new BatchNormalization.Builder().eps(GENERATOR_BN_EPS).activation(Activation.IDENTITY).build(), "gen_conv1")
                .addLayer("gen_act1", new ActivationLayer.Builder().activation(lrelu).build(), "gen_bn1")
                .addLayer("gen_up2", new Upsampling2D.Builder(2).build(), "gen_act1")
                .addLayer("gen_conv2", new ConvolutionLayer.Builder(3, 3).nOut(narrow).activation(Activation.IDENTITY).build(), "gen_up2")
                .addLayer("gen_bn2", new BatchNormalization.Builder().eps(GENERATOR_BN_EPS).activation(Activation.IDENTITY).build(), "gen_conv2")
                .addLayer("gen_act2", new ActivationLayer.Builder().activation(lrelu).build(), "gen_bn2")
                .addLayer("gen_conv3", new ConvolutionLayer.Builder(3, 3).nOut(image.channels()).activation(Activation.IDENTITY).build(), "gen_act2")
                .addLayer("gen_bn3", new BatchNormalization.Builder().activation(Activation.IDENTITY).build(), "gen_conv3")
                .addLayer(IMAGE, new ActivationLayer.Builder().activation(Activation.SIGMOID).build(), "gen_bn3");
        generatorLayers.addAll(List.of("gen_fc", "gen_bn0", "gen_conv1", "gen_bn1", "gen_act1", "gen_conv2", "gen_bn2", "gen_act2", "gen_conv3",
                "gen_bn3", IMAGE));
    }

    /** The deployable student's layers (all but its loss), same names, reading the reversed generated images. */
    private void copyStudent(ComputationGraphConfiguration.GraphBuilder g) {
        for (Map.Entry<String, GraphVertex> e : studentConf.getVertices().entrySet()) {
            String name = e.getKey();
            if (name.equals(ModelZoo.OUTPUT)) {
                continue;
            }
            List<String> inputs = studentConf.getVertexInputs().get(name).stream()
                    .map(in -> in.equals(ModelZoo.INPUT) ? STUDENT_IMAGE : in).toList();
            if (e.getValue() instanceof LayerVertex lv) {
                g.addLayer(name, lv.getLayerConf().getLayer().clone(), preProcessor(lv), inputs.toArray(new String[0]));
            } else {
                g.addVertex(name, e.getValue().clone(), inputs.toArray(new String[0]));
            }
        }
    }

    private Set<String> studentLayerNames() {
        Set<String> names = new LinkedHashSet<>();
        studentConf.getVertices().forEach((name, v) -> {
            if (v instanceof LayerVertex && !name.equals(ModelZoo.OUTPUT)) {
                names.add(name);
            }
        });
        return names;
    }

    /**
     * Copies teacher k's vertices up to its logits, prefixed "t{k}_", reading gen_image; layers frozen,
     * BN replaced by its inference-mode affine map, a batch-statistics head on each BN's input.
     * Returns the name of the copied logits.
     */
    private String addTeacher(ComputationGraphConfiguration.GraphBuilder g, int k) {
        ComputationGraph teacher = teachers.get(k);
        ComputationGraphConfiguration tc = teacher.getConfiguration();
        String prefix = "t" + k + "_";
        if (!tc.getNetworkInputs().equals(List.of(ModelZoo.INPUT)) || !(tc.getVertices().get(ModelZoo.LOGITS) instanceof LayerVertex lv)
                || !(lv.getLayerConf().getLayer() instanceof DenseLayer d) || d.getNOut() != classes) {
            throw new BadInputException("cdfkd-mfs: teacher " + k + " must have the single input '" + ModelZoo.INPUT + "' and a dense '"
                    + ModelZoo.LOGITS + "' layer with " + classes + " outputs (a Distillery zoo model); inputs " + tc.getNetworkInputs());
        }
        Map<String, InputType> types;
        try {
            types = tc.getLayerActivationTypes(ModelZoo.inputType(image));
        } catch (RuntimeException e) {
            throw new BadInputException("cdfkd-mfs: teacher " + k + " does not accept " + image + " images: " + e.getMessage(), e);
        }
        Set<String> needed = StudentGraphs.ancestors(tc, ModelZoo.LOGITS);
        boolean firstBn = true;
        for (org.deeplearning4j.nn.graph.vertex.GraphVertex live : topological(teacher)) {
            String name = live.getVertexName();
            if (!needed.contains(name) || live.isInputVertex()) {
                continue;
            }
            GraphVertex vertex = tc.getVertices().get(name);
            List<String> sources = tc.getVertexInputs().get(name);
            String[] inputs = sources.stream().map(in -> in.equals(ModelZoo.INPUT) ? IMAGE : prefix + in).toArray(String[]::new);
            if (!(vertex instanceof LayerVertex layerVertex)) {
                g.addVertex(prefix + name, vertex.clone(), inputs);
                continue;
            }
            Layer layer = layerVertex.getLayerConf().getLayer().clone();
            InputPreProcessor pre = preProcessor(layerVertex);
            teacherLayers.add(prefix + name);
            if (layer instanceof BatchNormalization bn) {
                InputType in = types.get(sources.get(0));
                if (pre != null) {
                    in = pre.getOutputType(in);
                }
                if (!(in instanceof InputType.InputTypeConvolutional cnn)) {
                    throw new BadInputException("cdfkd-mfs: teacher " + k + " batch norm '" + name + "' reads " + in
                            + "; only convolutional batch norm is supported");
                }
                BnStats stats = BnStats.of(teacher.getLayer(name), bn);
                double ratio = firstBn ? settings.firstBnRatio() : 1.0;
                firstBn = false;
                if (settings.bnWeight() > 0) {
                    String head = BN_PREFIX + prefix + name;
                    g.addLayer(head, new LossLayer.Builder(new BatchStatsLoss(settings.bnWeight() * ratio / teachers.size(), stats.mean, stats.variance))
                                    .activation(Activation.IDENTITY).build(),
                            new CnnToFeedForwardPreProcessor(cnn.getHeight(), cnn.getWidth(), cnn.getChannels()), inputs);
                    outputs.add(head);
                    labelWidths.add(1);
                    classLabels.add(false);
                }
                g.addLayer(prefix + name, frozen(affineOf(cnn.getChannels())), pre, inputs);
                INDArray[] wb = stats.affine();
                String target = prefix + name;
                teacherLoaders.add(graph -> {
                    graph.getLayer(target).setParam("W", wb[0].reshape(1, 1, wb[0].length(), 1));
                    graph.getLayer(target).setParam("b", wb[1].reshape(1, wb[1].length()));
                });
            } else {
                g.addLayer(prefix + name, frozen(layer), pre, inputs);
                if (teacher.getLayer(name).numParams() > 0) {
                    INDArray params = teacher.getLayer(name).params().dup();
                    String target = prefix + name;
                    teacherLoaders.add(graph -> graph.getLayer(target).setParams(params));
                }
            }
        }
        return prefix + ModelZoo.LOGITS;
    }

    /** A teacher BN's inference-mode constants (DL4J stores the variance or log10 of the standard deviation). */
    private record BnStats(double[] mean, double[] variance, double[] gamma, double[] beta, double eps) {
        static BnStats of(org.deeplearning4j.nn.api.Layer layer, BatchNormalization conf) {
            double[] mean = doubles(layer.getParam(BatchNormalizationParamInitializer.GLOBAL_MEAN));
            double[] variance;
            if (conf.isUseLogStd()) {
                variance = doubles(layer.getParam(BatchNormalizationParamInitializer.GLOBAL_LOG_STD));
                for (int c = 0; c < variance.length; c++) {
                    variance[c] = Math.pow(10, 2 * variance[c]);
                }
            } else {
                variance = doubles(layer.getParam(BatchNormalizationParamInitializer.GLOBAL_VAR));
            }
            double[] gamma = new double[mean.length], beta = new double[mean.length];
            if (conf.isLockGammaBeta()) {
                java.util.Arrays.fill(gamma, conf.getGamma());
                java.util.Arrays.fill(beta, conf.getBeta());
            } else {
                gamma = doubles(layer.getParam(BatchNormalizationParamInitializer.GAMMA));
                beta = doubles(layer.getParam(BatchNormalizationParamInitializer.BETA));
            }
            return new BnStats(mean, variance, gamma, beta, conf.getEps());
        }

        /** {W = γ/√(σ²+ε), b = β − μ·W}: what the BN computes in inference mode. */
        INDArray[] affine() {
            double[] w = new double[mean.length], b = new double[mean.length];
            for (int c = 0; c < mean.length; c++) {
                w[c] = gamma[c] / Math.sqrt(variance[c] + eps);
                b[c] = beta[c] - mean[c] * w[c];
            }
            return new INDArray[] {Nd4j.createFromArray(w), Nd4j.createFromArray(b)};
        }

        private static double[] doubles(INDArray a) {
            return a.castTo(DataType.DOUBLE).toDoubleVector();
        }
    }

    /** Identity activation: DL4J's BatchNormalization ignores its configured activation (the zoo's BNs say sigmoid, the global default). */
    private static Layer affineOf(long channels) {
        return new DepthwiseConvolution2D.Builder(1, 1).stride(1, 1).depthMultiplier(1).nIn(channels).nOut(channels)
                .hasBias(true).convolutionMode(ConvolutionMode.Same).activation(Activation.IDENTITY).build();
    }

    /** FrozenLayerWithBackprop with no updater state and zero regularization, so nothing moves its parameters. */
    static Layer frozen(Layer layer) {
        if (layer instanceof BaseLayer b) {
            b.setIUpdater(new NoOp());
            if (b.getBiasUpdater() != null) {
                b.setBiasUpdater(new NoOp());
            }
            // An empty list would be replaced by the graph's global regularization when the graph is built.
            b.setRegularization(new ArrayList<Regularization>(List.of(new L2Regularization(0.0))));
            b.setRegularizationBias(new ArrayList<Regularization>(List.of(new L2Regularization(0.0))));
        }
        return new FrozenLayerWithBackprop(layer);
    }

    private void addL1Head(ComputationGraphConfiguration.GraphBuilder g, String name, String input, double factor) {
        addHead(g, name, input, new LossLayer.Builder(new ScaledLoss(new LossL1(), factor)).activation(Activation.IDENTITY).build(), classes, false);
    }

    private void addHead(ComputationGraphConfiguration.GraphBuilder g, String name, String input, LossLayer loss, int width, boolean classHead) {
        g.addLayer(name, loss, input);
        outputs.add(name);
        labelWidths.add(width);
        classLabels.add(classHead);
    }

    private static InputPreProcessor preProcessor(LayerVertex v) {
        return v.getPreProcessor() == null ? null : v.getPreProcessor().clone();
    }

    private static List<org.deeplearning4j.nn.graph.vertex.GraphVertex> topological(ComputationGraph graph) {
        List<org.deeplearning4j.nn.graph.vertex.GraphVertex> order = new ArrayList<>();
        for (int i : graph.topologicalSortOrder()) {
            order.add(graph.getVertices()[i]);
        }
        return order;
    }

    @Override
    public String toString() {
        return settings + " (" + teachers.size() + " teachers, " + headers + " headers)";
    }
}

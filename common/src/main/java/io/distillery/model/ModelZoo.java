package io.distillery.model;

import io.distillery.config.ModelSpec;
import io.distillery.config.TrainSettings;
import io.distillery.data.ImageShape;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.CacheMode;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * The model zoo. Every model takes NCHW images in [0, 1] as input {@value #INPUT}, ends in a
 * {@value #LOGITS} dense layer (identity activation: the logits) and a softmax cross-entropy
 * {@value #OUTPUT} loss layer ({@value #POOL} reduces the last feature map first), and names the activation after each stage {@code stage1..stageN};
 * those names are the taps that precompute can store and hints can target.
 */
public final class ModelZoo {
    public static final String INPUT = "input";
    public static final String LOGITS = "logits";
    public static final String OUTPUT = "output";
    public static final String POOL = "pool";

    private ModelZoo() {
    }

    /** The model up to and including {@value #LOGITS}, with no output yet: distillation methods add the heads. */
    public static ComputationGraphConfiguration.GraphBuilder backbone(ModelSpec spec, ImageShape input, int classes, TrainSettings train) {
        ComputationGraphConfiguration.GraphBuilder g = features(spec, input, train);
        addHead(g, spec, classes, lastStage(spec));
        return g;
    }

    /** The feature extractor alone, ending in {@link #lastStage}: a head (the zoo's, or a method's) goes on top. */
    public static ComputationGraphConfiguration.GraphBuilder features(ModelSpec spec, ImageShape input, TrainSettings train) {
        ComputationGraphConfiguration.GraphBuilder g = new NeuralNetConfiguration.Builder()
                .seed(train.seed())
                .updater(new Adam(train.learningRate())) // the per-epoch rate is set by SparkGraphTrainer
                .weightInit(WeightInit.RELU)
                .l2(train.l2())
                .convolutionMode(ConvolutionMode.Same)
                // Keep each convolution's output from the forward pass for its backward pass: without a
                // cache, DL4J's ConvolutionLayer runs the whole convolution again in backprop (a tenth of
                // a student's training step here) only to apply its identity activation's derivative.
                .cacheMode(CacheMode.DEVICE)
                .graphBuilder()
                .addInputs(INPUT)
                .setInputTypes(inputType(input));
        switch (spec.architecture()) {
            case "resnet" -> resnet(g, spec);
            case "cnn" -> cnn(g, spec);
            default -> throw new IllegalArgumentException("unknown architecture " + spec.architecture());
        }
        return g;
    }

    /** Name of the last feature map, the input of the head. */
    public static String lastStage(ModelSpec spec) {
        return "stage" + spec.widths().size();
    }

    /** The zoo's head: {@value #POOL} (global average or 2x2 max pool, per {@code spec.head()}) then {@value #LOGITS}. */
    public static void addHead(ComputationGraphConfiguration.GraphBuilder g, ModelSpec spec, int classes, String features) {
        g.addLayer(POOL, spec.head().equals(ModelSpec.FLATTEN)
                        ? new SubsamplingLayer.Builder(PoolingType.MAX).kernelSize(2, 2).stride(2, 2).build()
                        : new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), features)
                .addLayer(LOGITS, new DenseLayer.Builder().nOut(classes).activation(Activation.IDENTITY).build(), POOL);
    }

    /** The plain classifier: backbone plus a softmax cross-entropy {@value #OUTPUT}. What gets deployed. */
    public static ComputationGraphConfiguration classifier(ModelSpec spec, ImageShape input, int classes, TrainSettings train) {
        return backbone(spec, input, classes, train)
                .addLayer(OUTPUT, new LossLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX).build(), LOGITS)
                .setOutputs(OUTPUT)
                .build();
    }

    public static InputType inputType(ImageShape input) {
        return InputType.convolutional(input.height(), input.width(), input.channels());
    }

    /** Pre-activation-free ResNet: stem conv, then per stage residual blocks; stages after the first halve the resolution. */
    private static String resnet(ComputationGraphConfiguration.GraphBuilder g, ModelSpec spec) {
        String in = convBnRelu(g, "stem", INPUT, spec.widths().get(0), 3, 1, "stem");
        for (int s = 0; s < spec.widths().size(); s++) {
            int width = spec.widths().get(s);
            for (int b = 0; b < spec.blocks().get(s); b++) {
                int stride = (s > 0 && b == 0) ? 2 : 1;
                boolean lastBlock = b == spec.blocks().get(s) - 1;
                String name = "s" + (s + 1) + "b" + (b + 1);
                String out = lastBlock ? "stage" + (s + 1) : name + "_out";
                in = residualBlock(g, name, in, width, stride, out);
            }
        }
        return in;
    }

    private static String residualBlock(ComputationGraphConfiguration.GraphBuilder g, String name, String in, int width, int stride, String out) {
        String a = convBnRelu(g, name + "_a", in, width, 3, stride, name + "_a_relu");
        g.addLayer(name + "_b_conv", conv(width, 3, 1), a)
                .addLayer(name + "_b_bn", new BatchNormalization.Builder().build(), name + "_b_conv");
        String shortcut = in;
        // Width changes only where a stage starts, always with stride 2, so stride alone decides projection.
        if (stride != 1) {
            g.addLayer(name + "_proj_conv", conv(width, 1, stride), in)
                    .addLayer(name + "_proj_bn", new BatchNormalization.Builder().build(), name + "_proj_conv");
            shortcut = name + "_proj_bn";
        }
        g.addVertex(name + "_add", new ElementWiseVertex(ElementWiseVertex.Op.Add), name + "_b_bn", shortcut)
                .addLayer(out, new ActivationLayer.Builder().activation(Activation.RELU).build(), name + "_add");
        return out;
    }

    /** Plain CNN: per stage, {@code blocks} conv-BN-ReLU layers, then 2x2 max pooling between stages. */
    private static String cnn(ComputationGraphConfiguration.GraphBuilder g, ModelSpec spec) {
        String in = INPUT;
        int layer = 0;
        for (int s = 0; s < spec.widths().size(); s++) {
            for (int b = 0; b < spec.blocks().get(s); b++) {
                layer++;
                boolean lastInStage = b == spec.blocks().get(s) - 1;
                String out = lastInStage ? "stage" + (s + 1) : "conv" + layer + "_relu";
                in = convBnRelu(g, "conv" + layer, in, spec.widths().get(s), 3, 1, out);
            }
            if (s < spec.widths().size() - 1) {
                String pool = "pool" + (s + 1);
                g.addLayer(pool, new SubsamplingLayer.Builder(PoolingType.MAX).kernelSize(2, 2).stride(2, 2).build(), in);
                in = pool;
            }
        }
        return in;
    }

    private static String convBnRelu(ComputationGraphConfiguration.GraphBuilder g, String name, String in, int width, int kernel, int stride, String out) {
        g.addLayer(name + "_conv", conv(width, kernel, stride), in)
                .addLayer(name + "_bn", new BatchNormalization.Builder().build(), name + "_conv")
                .addLayer(out, new ActivationLayer.Builder().activation(Activation.RELU).build(), name + "_bn");
        return out;
    }

    /** No bias: batch norm right after supplies it. */
    private static ConvolutionLayer conv(int width, int kernel, int stride) {
        return new ConvolutionLayer.Builder(kernel, kernel).stride(stride, stride).nOut(width)
                .hasBias(false).activation(Activation.IDENTITY).build();
    }
}

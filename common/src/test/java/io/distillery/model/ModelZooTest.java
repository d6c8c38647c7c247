package io.distillery.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.distillery.config.ModelSpec;
import io.distillery.config.TrainSettings;
import io.distillery.data.ImageShape;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** Names, shapes and sizes of the zoo's models. */
class ModelZooTest {
    static final TrainSettings TRAIN = new TrainSettings(1, 8, 0.001, "constant", 0, 0, 1, 7);
    static final ImageShape MNIST = new ImageShape(28, 28, 1);

    private static ComputationGraph init(ComputationGraphConfiguration conf) {
        ComputationGraph g = new ComputationGraph(conf);
        g.init();
        return g;
    }

    private static void assertFeatureMap(Map<String, InputType> types, String layer, int h, int w, int c) {
        InputType.InputTypeConvolutional t = assertInstanceOf(InputType.InputTypeConvolutional.class, types.get(layer), layer);
        assertArrayEquals(new long[]{h, w, c}, new long[]{t.getHeight(), t.getWidth(), t.getChannels()}, layer + " is " + t);
    }

    private static void assertNamedTapsAndOutput(ComputationGraphConfiguration conf, int stages) {
        for (int s = 1; s <= stages; s++) {
            assertTrue(conf.getVertices().containsKey("stage" + s), "stage" + s);
        }
        assertTrue(conf.getVertices().containsKey(ModelZoo.LOGITS));
        assertEquals(List.of(ModelZoo.OUTPUT), conf.getNetworkOutputs());
        assertEquals(List.of(ModelZoo.INPUT), conf.getNetworkInputs());
    }

    @Test
    void resnetStagesHaveTheExpectedShapes() {
        ModelSpec spec = new ModelSpec("resnet", List.of(32, 64, 128), List.of(1, 1, 2));
        ComputationGraphConfiguration conf = ModelZoo.classifier(spec, MNIST, 10, TRAIN);
        assertNamedTapsAndOutput(conf, 3);
        Map<String, InputType> types = conf.getLayerActivationTypes(ModelZoo.inputType(MNIST));
        assertFeatureMap(types, "stage1", 28, 28, 32);
        assertFeatureMap(types, "stage2", 14, 14, 64);
        assertFeatureMap(types, "stage3", 7, 7, 128);
        assertEquals(InputType.feedForward(10), types.get(ModelZoo.LOGITS));

        INDArray out = init(conf).outputSingle(Nd4j.rand(2, 1, 28, 28));
        assertArrayEquals(new long[]{2, 10}, out.shape());
        assertEquals(2.0, out.sumNumber().doubleValue(), 1e-5, "softmax rows sum to one");
    }

    @Test
    void cnnStagesHaveTheExpectedShapes() {
        ModelSpec spec = new ModelSpec("cnn", List.of(16, 32, 64), List.of(1, 1, 2));
        ComputationGraphConfiguration conf = ModelZoo.classifier(spec, MNIST, 10, TRAIN);
        assertNamedTapsAndOutput(conf, 3);
        Map<String, InputType> types = conf.getLayerActivationTypes(ModelZoo.inputType(MNIST));
        assertFeatureMap(types, "stage1", 28, 28, 16);
        assertFeatureMap(types, "stage2", 14, 14, 32);
        assertFeatureMap(types, "stage3", 7, 7, 64);

        INDArray out = init(conf).outputSingle(Nd4j.rand(3, 1, 28, 28));
        assertArrayEquals(new long[]{3, 10}, out.shape());
    }

    /**
     * cnn, widths [2], blocks [1], 4x4x1 input, 3 classes:
     * conv1_conv 3x3, 1 -> 2 channels, no bias (BN follows): 3*3*1*2 = 18;
     * conv1_bn: DL4J stores gamma, beta, running mean and running variance as parameters: 4*2 = 8;
     * logits dense 2 -> 3 after global pooling: 2*3 weights + 3 biases = 9.  Total 35.
     */
    @Test
    void tinyCnnParameterCount() {
        ComputationGraph g = init(ModelZoo.classifier(new ModelSpec("cnn", List.of(2), List.of(1)), new ImageShape(4, 4, 1), 3, TRAIN));
        assertEquals(18, g.getLayer("conv1_conv").numParams());
        assertEquals(8, g.getLayer("conv1_bn").numParams());
        assertEquals(9, g.getLayer(ModelZoo.LOGITS).numParams());
        assertEquals(35, g.numParams());
    }

    /**
     * resnet, widths [2, 3], blocks [1, 1], 4x4x1 input, 3 classes (convs have no bias, BN counts 4 per channel):
     * stem conv 3*3*1*2 = 18 + BN 8 = 26;
     * s1b1 (stride 1, same width, identity shortcut): two 3x3 convs 2 -> 2, 36 each, two BN 8 each = 88;
     * s2b1 (stride 2, 2 -> 3): conv a 3*3*2*3 = 54, conv b 3*3*3*3 = 81, 1x1 projection 2*3 = 6, three BN 12 each = 177;
     * logits 3*3 + 3 = 12.  Total 26 + 88 + 177 + 12 = 303.
     */
    @Test
    void tinyResnetParameterCount() {
        ComputationGraph g = init(ModelZoo.classifier(new ModelSpec("resnet", List.of(2, 3), List.of(1, 1)), new ImageShape(4, 4, 1), 3, TRAIN));
        assertEquals(6, g.getLayer("s2b1_proj_conv").numParams());
        assertEquals(303, g.numParams());
    }
}

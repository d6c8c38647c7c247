package io.distillery.model;

import io.distillery.config.ModelSpec;
import io.distillery.config.TrainSettings;
import io.distillery.data.ImageShape;
import io.distillery.errors.BadInputException;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** InDistill's channel choice on the zoo's ResNet and CNN: which convolution, and the top-k filters by L1 norm. */
class ChannelPruningTest {
    static final TrainSettings TRAIN = new TrainSettings(1, 8, 0.001, "constant", 0, 0, 1, 7);
    static final ImageShape SHAPE = new ImageShape(12, 12, 1);

    private static ComputationGraph graph(ModelSpec spec) {
        ComputationGraph g = new ComputationGraph(ModelZoo.classifier(spec, SHAPE, 10, TRAIN));
        g.init();
        return g;
    }

    /** sum |W| per output filter by plain loops over [nOut, nIn, kH, kW]. */
    private static double[] norms(ComputationGraph g, String conv) {
        INDArray w = g.getLayer(conv).getParam("W");
        assertEquals(4, w.rank(), conv);
        double[] n = new double[(int) w.size(0)];
        for (int o = 0; o < w.size(0); o++) {
            for (int i = 0; i < w.size(1); i++) {
                for (int y = 0; y < w.size(2); y++) {
                    for (int x = 0; x < w.size(3); x++) {
                        n[o] += Math.abs(w.getDouble(o, i, y, x));
                    }
                }
            }
        }
        return n;
    }

    /** Brute force: a channel is kept iff fewer than k channels beat it (larger norm, or equal norm and a lower index). */
    private static int[] expectedTopK(double[] n, int k) {
        return java.util.stream.IntStream.range(0, n.length).filter(c -> {
            int better = 0;
            for (int d = 0; d < n.length; d++) {
                if (n[d] > n[c] || (n[d] == n[c] && d < c)) {
                    better++;
                }
            }
            return better < k;
        }).toArray();
    }

    private static void assertTopK(ComputationGraph g, String tap, String conv, int channels, int k) {
        ChannelPruning.Selection s = ChannelPruning.select(g, tap, k);
        assertEquals(conv, s.conv(), "convolution of " + tap);
        assertEquals(channels, s.channels(), tap);
        assertEquals(k, s.kept().length);
        double[] n = norms(g, conv);
        assertArrayEquals(expectedTopK(n, k), s.kept(), tap + " k=" + k + " norms " + Arrays.toString(n));
        for (int i = 1; i < k; i++) {
            assertTrue(s.kept()[i - 1] < s.kept()[i], "ascending channel order");
        }
        double minKept = Arrays.stream(s.kept()).mapToDouble(c -> n[c]).min().orElseThrow();
        for (int c = 0; c < n.length; c++) {
            int cc = c;
            if (Arrays.stream(s.kept()).noneMatch(x -> x == cc)) {
                assertTrue(n[c] <= minKept, "dropped channel " + c + " has a larger norm than a kept one");
            }
        }
    }

    @Test
    void resnetTapsRankTheResidualBranchsLastConvolution() {
        ComputationGraph g = graph(new ModelSpec("resnet", List.of(8, 16, 24), List.of(1, 2, 1)));
        Map<String, String> expected = Map.of(
                "stage1", "s1b1_b_conv",      // relu(add(bn(conv_b), stem)): the main branch, not the stem
                "stage2", "s2b2_b_conv",      // second block of stage 2
                "s2b1_out", "s2b1_b_conv",    // first block of stage 2: the shortcut is a projection, still the second input
                "s2b1_add", "s2b1_b_conv",
                "stage3", "s3b1_b_conv",
                "s1b1_a_relu", "s1b1_a_conv",
                "stem", "stem_conv");
        expected.forEach((tap, conv) -> assertEquals(conv, ChannelPruning.producingConv(g.getConfiguration(), tap), tap));
        assertTopK(g, "stage1", "s1b1_b_conv", 8, 3);
        assertTopK(g, "stage2", "s2b2_b_conv", 16, 8);
        assertTopK(g, "stage3", "s3b1_b_conv", 24, 1);
        assertTopK(g, "stage3", "s3b1_b_conv", 24, 24);
    }

    @Test
    void cnnTapsRankTheirStagesConvolutionAlsoThroughPooling() {
        ComputationGraph g = graph(new ModelSpec("cnn", List.of(6, 10, 12), List.of(1, 2, 1), ModelSpec.FLATTEN));
        Map<String, String> expected = Map.of(
                "stage1", "conv1_conv",
                "pool1", "conv1_conv",
                "conv2_relu", "conv2_conv",
                "stage2", "conv3_conv",
                "stage3", "conv4_conv",
                "pool", "conv4_conv");   // the flatten head's 2x2 max pool
        expected.forEach((tap, conv) -> assertEquals(conv, ChannelPruning.producingConv(g.getConfiguration(), tap), tap));
        assertTopK(g, "stage1", "conv1_conv", 6, 4);
        assertTopK(g, "pool1", "conv1_conv", 6, 2);
        assertTopK(g, "stage2", "conv3_conv", 10, 5);
    }

    @Test
    void chosenChannelsFollowTheFilterNormsNotTheirOrder() {
        ComputationGraph g = graph(new ModelSpec("cnn", List.of(5, 4), List.of(1, 1)));
        INDArray w = g.getLayer("conv1_conv").getParam("W"); // [5, 1, 3, 3]
        double[] scale = {0.5, 3, 1, 2, 3}; // channels 1 and 4 tie: the lower index wins
        for (int o = 0; o < 5; o++) {
            for (int y = 0; y < 3; y++) {
                for (int x = 0; x < 3; x++) {
                    w.putScalar(new int[]{o, 0, y, x}, ((x + y) % 2 == 0 ? 1 : -1) * scale[o]);
                }
            }
        }
        assertArrayEquals(new int[]{1}, ChannelPruning.select(g, "stage1", 1).kept());
        assertArrayEquals(new int[]{1, 4}, ChannelPruning.select(g, "stage1", 2).kept());
        assertArrayEquals(new int[]{1, 3, 4}, ChannelPruning.select(g, "stage1", 3).kept());
        assertArrayEquals(new int[]{1, 2, 3, 4}, ChannelPruning.select(g, "stage1", 4).kept());
        assertArrayEquals(new double[]{4.5, 27, 9, 18, 27}, ChannelPruning.filterL1Norms(g, "conv1_conv"), 1e-6);
    }

    @Test
    void impossibleRequestsAreOneLineErrorsNamingTheTap() {
        ComputationGraph resnet = graph(new ModelSpec("resnet", List.of(8, 16), List.of(1, 1)));
        BadInputException tooMany = assertThrows(BadInputException.class, () -> ChannelPruning.select(resnet, "stage2", 17));
        assertEquals("tap 'stage2': cannot keep 17 channels by L1 norm (prune-l1=17); its convolution 's2b1_b_conv' has 16 output channels,"
                + " so k must be in 1..16", tooMany.getMessage());
        assertThrows(BadInputException.class, () -> ChannelPruning.select(resnet, "stage2", 0));

        BadInputException pool = assertThrows(BadInputException.class, () -> ChannelPruning.select(resnet, "pool", 4));
        assertTrue(pool.getMessage().startsWith("tap 'pool': no convolution found"), pool.getMessage());
        assertTrue(pool.getMessage().contains("GlobalPoolingLayer"), pool.getMessage());
        BadInputException logits = assertThrows(BadInputException.class, () -> ChannelPruning.select(resnet, "logits", 4));
        assertTrue(logits.getMessage().contains("'logits' is a DenseLayer"), logits.getMessage());
        BadInputException input = assertThrows(BadInputException.class, () -> ChannelPruning.select(resnet, "input", 1));
        assertTrue(input.getMessage().contains("reached the network input"), input.getMessage());
        BadInputException missing = assertThrows(BadInputException.class, () -> ChannelPruning.select(resnet, "nope", 1));
        assertTrue(missing.getMessage().contains("'nope' is not a layer"), missing.getMessage());
        for (BadInputException e : List.of(tooMany, pool, logits, input, missing)) {
            assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        }
    }
}

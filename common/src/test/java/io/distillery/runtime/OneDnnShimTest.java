package io.distillery.runtime;

import io.distillery.config.ModelSpec;
import io.distillery.config.TrainSettings;
import io.distillery.data.ImageShape;
import io.distillery.model.ModelZoo;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.layers.mkldnn.BaseMKLDNNHelper;
import org.deeplearning4j.nn.layers.mkldnn.MKLDNNConvHelper;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** The org.nd4j.nativeblas.Nd4jCpu shim is what lets DL4J 1.0.0-M2.1 find oneDNN on the CPU backend. */
class OneDnnShimTest {
    @Test
    void dl4jSeesOneDnnAndConvolutionsGetItsHelper() {
        assertTrue(org.nd4j.nativeblas.Nd4jCpu.Environment.getInstance().isUseMKLDNN(), "the shim reports oneDNN off on the CPU backend");
        assertTrue(BaseMKLDNNHelper.mklDnnEnabled(), "DL4J's own oneDNN check fails: the shim is not found");
        ComputationGraph graph = new ComputationGraph(ModelZoo.classifier(new ModelSpec("cnn", List.of(4), List.of(1), ModelSpec.FLATTEN),
                new ImageShape(8, 8, 1), 3, new TrainSettings(1, 8, 0.01, "constant", 0, 0, 1, 7)));
        graph.init();
        assertTrue(Nd4jRuntime.describe(graph).contains("oneDNN on, conv helper " + MKLDNNConvHelper.class.getSimpleName()), Nd4jRuntime.describe(graph));
    }
}

package io.distillery.jobs.stages;

import io.distillery.config.ModelSpec;
import io.distillery.config.TrainSettings;
import io.distillery.data.ImageShape;
import io.distillery.errors.BadInputException;
import io.distillery.model.ModelZoo;
import io.distillery.table.TapSpec;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** precompute.engine = "onnxruntime" without Spark: the export with taps, its check against DL4J and the refusals. */
class OnnxRuntimeEngineTest {
    private static final ImageShape MNIST = new ImageShape(28, 28, 1);
    private static final List<TeacherInference.Tap> TAPS = List.of(TeacherInference.Tap.raw("stage3"), TeacherInference.Tap.attention("stage2"));

    private static ComputationGraph resnet(long seed) {
        ComputationGraph g = new ComputationGraph(ModelZoo.classifier(new ModelSpec("resnet", List.of(8, 16, 32), List.of(1, 1, 1)), MNIST, 10,
                new TrainSettings(1, 8, 0.01, "constant", 0, 0, 1, seed)));
        g.init();
        return g;
    }

    private static List<byte[]> images(int n) {
        Random r = new Random(5);
        List<byte[]> images = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            byte[] b = new byte[MNIST.pixelCount()];
            r.nextBytes(b);
            images.add(b);
        }
        return images;
    }

    @Test
    void exportWithTapsAgreesWithDl4jOnLogitsAndEveryTappedLayer() {
        OnnxRuntimeEngine.Prepared p = OnnxRuntimeEngine.prepare(resnet(7), MNIST, TAPS, "t", images(16));
        assertTrue(p.check().startsWith("ONNX Runtime against DL4J on 16 examples"), p.check());
        assertTrue(p.check().contains("logits ") && p.check().contains("stage3 ") && p.check().contains("stage2 "), p.check());
        assertTrue(io.distillery.onnx.OnnxGraph.parse(p.model(), "t").outputNames().containsAll(List.of("logits", "stage3", "stage2")));
    }

    /** Negative control: the check must catch an export of other weights. */
    @Test
    void checkRefusesAnExportThatDisagreesWithDl4j() {
        OnnxRuntimeEngine.Prepared other = OnnxRuntimeEngine.prepare(resnet(8), MNIST, TAPS, "other", images(4));
        var e = assertThrows(BadInputException.class,
                () -> OnnxRuntimeEngine.check(resnet(7), other.model(), other.teacher(), MNIST, TAPS, "t", images(16)));
        assertTrue(e.getMessage().startsWith("precompute.engine = \"onnxruntime\": the ONNX export of teacher t disagrees with DL4J beyond 1.0E-4"),
                e.getMessage());
        assertTrue(e.getMessage().endsWith("set precompute.engine = \"dl4j\""), e.getMessage());
    }

    @Test
    void aTeacherWithoutALogitsLayerIsOneLineSayingToUseDl4j() {
        ComputationGraph mlp = new ComputationGraph(new NeuralNetConfiguration.Builder().graphBuilder().addInputs("in")
                .setInputTypes(InputType.convolutional(28, 28, 1))
                .addLayer("dense", new DenseLayer.Builder().nOut(8).activation(Activation.RELU).build(), "in")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(10).activation(Activation.SOFTMAX).build(), "dense")
                .setOutputs("out").build());
        mlp.init();
        var e = assertThrows(BadInputException.class,
                () -> OnnxRuntimeEngine.prepare(mlp, MNIST, List.of(), "mlp", images(2)));
        assertTrue(e.getMessage().contains("needs a teacher with a 'logits' layer") && e.getMessage().contains("teacher mlp"), e.getMessage());
    }

    @Test
    void aTapOutsideTheExportIsOneLineNamingIt() {
        // The zoo's 'output' loss layer is not exported (only what the logits depend on).
        var e = assertThrows(BadInputException.class, () -> OnnxRuntimeEngine.prepare(resnet(7), MNIST,
                List.of(new TeacherInference.Tap(TapSpec.raw(ModelZoo.OUTPUT), null)), "t", images(2)));
        assertTrue(e.getMessage().startsWith("precompute.taps: layer 'output' of teacher t does not feed its logits"), e.getMessage());
    }
}

package io.distillery.method;

import io.distillery.errors.BadInputException;
import io.distillery.model.ModelZoo;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * CDFKD's attention step (ICME 2021 code, attention-train.py): after data-free training, a few
 * labelled real images teach the {@link HeaderAttention} how to weigh the frozen student's headers.
 * As in the card: only the attention's C + 1 parameters train, on the headers' logits computed once
 * with the student in inference mode; Adam at 0.01, batches of 100, 30 epochs. Unlike the authors'
 * script, which kept the epoch with the best <em>test</em> accuracy, a fifth of the samples is held
 * out to choose the epoch, and "epoch 0" (the plain mean of the headers) is a candidate: the step never
 * returns a student worse on the held-out samples than the one it was given.
 */
public final class HeaderAttentionStep {
    static final double LEARNING_RATE = 0.01;
    static final int BATCH = 100;
    public static final int EPOCHS = 30;
    static final double HELD_OUT = 0.2;

    /** What the step did: held-out accuracy of the headers' mean and of the student returned, and its epoch (0 = the mean). */
    public record Result(ComputationGraph student, int trainSamples, int heldOutSamples, double meanHeldOutAccuracy,
                         double heldOutAccuracy, int selectedEpoch) {
    }

    private HeaderAttentionStep() {
    }

    /**
     * @param method  the data-free method that trained {@code student}
     * @param student its deployable student (headers' mean)
     * @param images  labelled real images [n, C, H, W] in [0, 1], n ≥ 2
     * @param labels  their classes, n of them
     */
    public static Result train(CdfkdMfs method, ComputationGraph student, INDArray images, int[] labels, long seed) {
        int n = labels.length;
        if (n < 2 || images.size(0) != n) {
            throw new BadInputException("cdfkd-mfs attention step: needs at least 2 labelled images (one to train, one to choose the"
                    + " epoch), got " + n + " labels for " + images.size(0) + " images");
        }
        String[] headers = method.headerLogits();
        int classes = (int) student.getLayer(headers[0]).getParam("b").length();
        Map<String, INDArray> acts = student.feedForward(images, false);
        INDArray[] logits = new INDArray[headers.length];
        for (int i = 0; i < headers.length; i++) {
            logits[i] = acts.get(headers[i]).dup();
        }
        INDArray oneHot = Nd4j.zeros(logits[0].dataType(), n, classes);
        for (int r = 0; r < n; r++) {
            if (labels[r] < 0 || labels[r] >= classes) {
                throw new BadInputException("cdfkd-mfs attention step: label " + labels[r] + " is outside the student's " + classes + " classes");
            }
            oneHot.putScalar(r, labels[r], 1);
        }
        List<Integer> order = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            order.add(r);
        }
        java.util.Collections.shuffle(order, new Random(seed));
        int heldOut = Math.max(1, (int) Math.round(n * HELD_OUT));
        int[] held = order.subList(0, heldOut).stream().mapToInt(Integer::intValue).toArray();
        int[] fit = order.subList(heldOut, n).stream().mapToInt(Integer::intValue).toArray();

        ComputationGraph attention = new ComputationGraph(attentionGraph(headers, classes, seed));
        attention.init();
        MultiDataSet heldData = rows(logits, oneHot, held);
        double meanAccuracy = accuracy(attention, heldData);
        double best = meanAccuracy;
        int bestEpoch = 0;
        INDArray bestParams = attention.params().dup();
        Random shuffle = new Random(seed + 1);
        for (int epoch = 1; epoch <= EPOCHS; epoch++) {
            int[] perm = permutation(fit, shuffle);
            for (int start = 0; start < perm.length; start += BATCH) {
                attention.fit(rows(logits, oneHot, java.util.Arrays.copyOfRange(perm, start, Math.min(perm.length, start + BATCH))));
            }
            double acc = accuracy(attention, heldData);
            if (acc > best) {
                best = acc;
                bestEpoch = epoch;
                bestParams = attention.params().dup();
            }
        }
        attention.setParams(bestParams);
        ComputationGraph result = StudentGraphs.withParamsOf(method.attentionStudentConfiguration(), attention, student);
        return new Result(result, fit.length, held.length, meanAccuracy, best, bestEpoch);
    }

    /** Inputs h0_logits.. (the student's header names) → {@link HeaderAttention} → softmax cross-entropy. */
    private static ComputationGraphConfiguration attentionGraph(String[] headers, int classes, long seed) {
        ComputationGraphConfiguration.GraphBuilder g = new NeuralNetConfiguration.Builder().seed(seed).updater(new Adam(LEARNING_RATE))
                .graphBuilder().addInputs(headers);
        InputType[] types = new InputType[headers.length];
        java.util.Arrays.fill(types, InputType.feedForward(classes));
        g.setInputTypes(types);
        HeaderAttention.add(g, ModelZoo.LOGITS, headers, classes);
        return g.addLayer(ModelZoo.OUTPUT, new LossLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX).build(),
                        ModelZoo.LOGITS)
                .setOutputs(ModelZoo.OUTPUT).build();
    }

    private static MultiDataSet rows(INDArray[] logits, INDArray oneHot, int[] rows) {
        INDArray[] features = new INDArray[logits.length];
        for (int i = 0; i < logits.length; i++) {
            features[i] = logits[i].getRows(rows);
        }
        return new MultiDataSet(features, new INDArray[] {oneHot.getRows(rows)});
    }

    private static double accuracy(ComputationGraph attention, MultiDataSet data) {
        INDArray predicted = attention.output(false, data.getFeatures())[0].argMax(1);
        return predicted.eq(data.getLabels(0).argMax(1)).castTo(DataType.DOUBLE).meanNumber().doubleValue();
    }

    private static int[] permutation(int[] rows, Random random) {
        int[] p = rows.clone();
        for (int i = p.length - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }
}

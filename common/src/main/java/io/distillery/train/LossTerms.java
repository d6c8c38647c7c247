package io.distillery.train;

import io.distillery.loss.AdversarialLoss;
import io.distillery.loss.ScaledLoss;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.deeplearning4j.nn.conf.layers.BaseOutputLayer;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.lossfunctions.ILossFunction;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Each head's loss, as weighted in the total, measured on a sample of training batches. DL4J reports
 * only the summed score, but the curves of the separate terms are what tells whether KD or a hint
 * is doing anything.
 */
public final class LossTerms {
    private LossTerms() {
    }

    /** Each head's mean loss per example, in the graph's output order, and probes such as a discriminator's accuracy. */
    public record Measured(Map<String, Double> loss, Map<String, Double> probes) {
    }

    public static Measured measure(JavaSparkContext sc, ComputationGraph graph, JavaRDD<MultiDataSet> sample) {
        List<String> outputs = graph.getConfiguration().getNetworkOutputs();
        Broadcast<byte[]> b = sc.broadcast(io.distillery.model.Models.toBytes(graph, false));
        try {
            double[] sums = sample.mapPartitions((Iterator<MultiDataSet> it) -> List.of(sums(ModelCache.get(b), it)).iterator())
                    .reduce(LossTerms::add);
            Map<String, Double> terms = new LinkedHashMap<>();
            Map<String, Double> probes = new LinkedHashMap<>();
            int n = outputs.size();
            double examples = sums[2 * n];
            for (int i = 0; i < n; i++) {
                terms.put(outputs.get(i), examples == 0 ? Double.NaN : sums[i] / examples);
                if (isAdversary(graph, outputs.get(i))) {
                    probes.put(outputs.get(i) + "_accuracy", examples == 0 ? Double.NaN : sums[n + i] / examples);
                }
            }
            return new Measured(terms, probes);
        } finally {
            b.destroy();
        }
    }

    /**
     * Per head: summed loss over the batches, then per head a probe summed over examples (the
     * discriminator accuracy times the batch size, for adversarial heads); the last slot counts examples.
     */
    static double[] sums(ComputationGraph graph, Iterator<MultiDataSet> batches) {
        List<String> outputs = graph.getConfiguration().getNetworkOutputs();
        int n = outputs.size();
        double[] sums = new double[2 * n + 1];
        while (batches.hasNext()) {
            MultiDataSet mds = batches.next();
            long batch = mds.getFeatures(0).size(0);
            Map<String, INDArray> acts = graph.feedForward(mds.getFeatures(), false, false);
            for (int i = 0; i < n; i++) {
                GraphVertex head = graph.getVertex(outputs.get(i));
                String inputName = graph.getConfiguration().getVertexInputs().get(outputs.get(i)).get(0);
                INDArray preOutput = acts.get(inputName);
                var vertexConf = (org.deeplearning4j.nn.conf.graph.LayerVertex) graph.getConfiguration().getVertices().get(outputs.get(i));
                if (head.hasLayer() && head.getLayer().conf().getLayer() instanceof LossLayer l) {
                    sums[i] += score(l.getLossFn(), l.getActivationFn(), vertexConf.getPreProcessor(), preOutput, mds.getLabels(i),
                            labelMask(mds, i));
                    if (isAdversary(graph, outputs.get(i))) {
                        sums[n + i] += AdversarialLoss.discriminatorAccuracy(preOutput) * batch;
                    }
                } else if (head.hasLayer() && head.getLayer().conf().getLayer() instanceof BaseOutputLayer l) {
                    throw new IllegalStateException("loss probe supports LossLayer heads only, not " + l.getClass().getSimpleName());
                }
            }
            sums[2 * n] += batch;
        }
        return sums;
    }

    private static boolean isAdversary(ComputationGraph graph, String head) {
        return graph.getLayer(head).conf().getLayer() instanceof LossLayer l && ScaledLoss.unwrap(l.getLossFn()) instanceof AdversarialLoss;
    }

    /** Head i's label mask (a top-k KD head's stored classes), null when the head or the batch has none. */
    static INDArray labelMask(MultiDataSet mds, int i) {
        INDArray[] masks = mds.getLabelsMaskArrays();
        return masks == null ? null : masks[i];
    }

    /** The head's summed loss over the batch, with its label mask as in training (fit passes it to the loss too). */
    private static double score(ILossFunction loss, IActivation activation, org.deeplearning4j.nn.conf.InputPreProcessor pre,
                                INDArray preOutput, INDArray labels, INDArray mask) {
        INDArray in = pre == null ? preOutput
                : pre.preProcess(preOutput, (int) preOutput.size(0),
                org.deeplearning4j.nn.workspace.LayerWorkspaceMgr.noWorkspaces());
        return loss.computeScore(labels, in.dup(), activation, mask, false);
    }

    private static double[] add(double[] a, double[] b) {
        double[] r = a.clone();
        for (int i = 0; i < r.length; i++) {
            r[i] += b[i];
        }
        return r;
    }
}

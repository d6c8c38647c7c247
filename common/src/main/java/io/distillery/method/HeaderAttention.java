package io.distillery.method;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.graph.ReshapeVertex;
import org.deeplearning4j.nn.conf.graph.StackVertex;
import org.deeplearning4j.nn.conf.graph.SubsetVertex;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;

/**
 * The attention over a multi-header student's headers (CDFKD, Hao et al. ICME 2021, code
 * Hao840/pytorch-CDFKD attention-train.py): from N header logits s_i [B, C],
 * <pre>  ŝ = Σ_i α_i s_i,   α = softmax_i(wᵀ s_i + b)  (per example)</pre>
 * with one w [C] and b shared by every header ({@value #SCORE}: C + 1 parameters, the only ones the
 * attention step trains). Zero-initialised, so it starts as exactly the headers' mean.
 *
 * <p>Built from DL4J's own vertices, each covered by DL4J's gradient checks and together by
 * {@code HeaderAttentionTest}: the headers stacked along the batch [N·B, C] so one dense layer scores
 * them all, the scores put back per example [B, N] (column-major reshape), softmax; each α_i is widened
 * to [B, C] by a frozen all-ones dense layer and multiplies s_i. (A SameDiff vertex with the same
 * formula got twice the gradient of its own score in DL4J 1.0.0-M2.1, so it is not used.)
 */
public final class HeaderAttention {
    /** The trained layer: Linear(C → 1), shared by the headers. */
    public static final String SCORE = "attention_score";

    private HeaderAttention() {
    }

    /** Adds the block reading {@code headers} (each [B, classes]) and writing vertex {@code output} [B, classes]. */
    public static void add(ComputationGraphConfiguration.GraphBuilder g, String output, String[] headers, int classes) {
        int n = headers.length;
        g.addVertex("attention_stack", new StackVertex(), headers)
                .addLayer(SCORE, new DenseLayer.Builder().nIn(classes).nOut(1).activation(Activation.IDENTITY)
                        .weightInit(WeightInit.ZERO).biasInit(0).build(), "attention_stack")
                .addVertex("attention_scores", new ReshapeVertex('f', new int[] {-1, n}, null), SCORE)
                .addLayer("attention_alpha", new ActivationLayer.Builder().activation(Activation.SOFTMAX).build(), "attention_scores");
        String[] weighted = new String[n];
        for (int i = 0; i < n; i++) {
            g.addVertex("attention_alpha" + i, new SubsetVertex(i, i), "attention_alpha")
                    .addLayer("attention_alpha" + i + "_wide", CdfkdMfs.frozen(new DenseLayer.Builder().nIn(1).nOut(classes).hasBias(false)
                            .activation(Activation.IDENTITY).weightInit(WeightInit.ONES).build()), "attention_alpha" + i)
                    .addVertex("attention_weighted" + i, new ElementWiseVertex(ElementWiseVertex.Op.Product), headers[i],
                            "attention_alpha" + i + "_wide");
            weighted[i] = "attention_weighted" + i;
        }
        g.addVertex(output, new ElementWiseVertex(ElementWiseVertex.Op.Add), weighted);
    }
}

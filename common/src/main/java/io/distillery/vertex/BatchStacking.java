package io.distillery.vertex;

import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.ReshapeVertex;
import org.deeplearning4j.nn.conf.graph.StackVertex;

/**
 * Runs one set of layers (a discriminator) over two same-shaped batches without duplicating its
 * parameters: stack the batches along the example axis, apply the layers once, and turn the
 * [2B, 1] result back into per-example pairs [B, 2] before the loss. Both are DL4J's own vertices,
 * checked by {@code BatchStackTest} and the adversarial gradient checks.
 *
 * <p>The pairs step matters: DL4J's {@code LossLayer} divides its score by its own input's row
 * count while the updater divides gradients by the labels' row count, so a loss layer fed [2B, 1]
 * with [B, ·] labels reports half the objective it optimises (and fails gradient checks).
 */
public final class BatchStacking {
    private BatchStacking() {}

    /**
     * DL4J's {@link StackVertex}: inputs [B, ...] of identical shape and type → [2B, ...], first
     * input's rows first; backward splits epsilon into the halves. Output type = input type (DL4J
     * rejects unequal input types).
     */
    public static GraphVertex stack() {
        return new StackVertex();
    }

    /**
     * [2B, 1] → [B, 2]: row i becomes (first half's row i, second half's row i). A reshape in
     * column-major order (any B), exactly inverted on the backward pass. Output type feed-forward(2).
     */
    public static GraphVertex halvesToColumns() {
        return new ReshapeVertex('f', new int[] {-1, 2}, null);
    }
}

package io.distillery.tensor;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * Zagoruyko and Komodakis's spatial attention map of a feature map, as in the authors' code
 * ({@code at(x) = normalize(x.pow(2).mean(1).view(B, -1))}): per example, the mean over channels
 * of the squared activations, flattened to H·W values and divided by its L2 norm (floored at
 * {@value #NORM_FLOOR}, so an all-zero map stays zero instead of dividing by zero).
 */
public final class AttentionMaps {
    public static final double NORM_FLOOR = 1e-12;

    private AttentionMaps() {
    }

    /** [B, C, H, W] activations to [B, H·W] normalised attention maps (a new array). */
    public static INDArray normalized(INDArray nchw) {
        if (nchw.rank() != 4) {
            throw new IllegalArgumentException("attention map needs [B, C, H, W] activations, got rank " + nchw.rank());
        }
        long b = nchw.size(0);
        INDArray energy = nchw.mul(nchw).mean(1).reshape('c', b, nchw.size(2) * nchw.size(3));
        INDArray norms = Transforms.max(energy.norm2(true, 1), NORM_FLOOR, false);
        return energy.diviColumnVector(norms);
    }
}

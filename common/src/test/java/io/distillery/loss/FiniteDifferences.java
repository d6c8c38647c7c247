package io.distillery.loss;

import java.util.Random;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.ILossFunction;

/** Test helpers: seeded inputs and a central-difference check of a loss's gradient against its score. */
final class FiniteDifferences {
    static final double EPS = 1e-6;
    /**
     * Differences below this are rounding noise, whatever the relative error: the scores summed here
     * are up to ~30, so each carries ~1e-14 of rounding, which the division by 2 * EPS makes ~1e-8
     * (observed: up to 2.4e-9). DL4J's GradientCheckUtil uses the same floor by default.
     */
    static final double MIN_ABS_ERROR = 1e-8;

    private FiniteDifferences() {}

    /** N x K matrix of Gaussian values times {@code scale}, as plain doubles (for hand computations). */
    static double[][] gaussian(Random random, int n, int k, double scale) {
        double[][] a = new double[n][k];
        for (double[] row : a) {
            for (int j = 0; j < k; j++) {
                row[j] = random.nextGaussian() * scale;
            }
        }
        return a;
    }

    static INDArray array(double[][] a) {
        return Nd4j.create(a).castTo(DataType.DOUBLE);
    }

    /**
     * Largest relative error |g − n| / max(|g|, |n|) between {@code gradient} and the central
     * difference n of {@code computeScore(average = false)} in each preOutput entry, ignoring entries
     * whose absolute difference is below {@link #MIN_ABS_ERROR}.
     */
    static double maxRelativeError(ILossFunction loss, INDArray labels, INDArray preOutput, IActivation activation,
            INDArray mask, INDArray gradient) {
        double worst = 0;
        for (int i = 0; i < preOutput.rows(); i++) {
            for (int j = 0; j < preOutput.columns(); j++) {
                double original = preOutput.getDouble(i, j);
                preOutput.putScalar(i, j, original + EPS);
                double plus = loss.computeScore(labels, preOutput, activation, mask, false);
                preOutput.putScalar(i, j, original - EPS);
                double minus = loss.computeScore(labels, preOutput, activation, mask, false);
                preOutput.putScalar(i, j, original);
                double numeric = (plus - minus) / (2 * EPS);
                double analytic = gradient.getDouble(i, j);
                double diff = Math.abs(numeric - analytic);
                if (diff > MIN_ABS_ERROR) {
                    worst = Math.max(worst, diff / Math.max(Math.abs(numeric), Math.abs(analytic)));
                }
            }
        }
        return worst;
    }
}

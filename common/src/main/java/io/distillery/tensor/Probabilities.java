package io.distillery.tensor;

/**
 * The ensemble of several teachers' logits, as an ensemble precompute stores it and as a student
 * learning from a subset of an ensemble rebuilds it: the log of the mean of their softmax
 * probabilities (a valid logits row: its softmax is that mean).
 */
public final class Probabilities {
    private Probabilities() {
    }

    /** {@code mean[k] += scale * softmax(logits)[k]} for one row of {@code mean.length} values at {@code from}, computed stably in double. */
    public static void addSoftmax(float[] logits, int from, double[] mean, double scale) {
        int width = mean.length;
        double max = Double.NEGATIVE_INFINITY;
        for (int k = 0; k < width; k++) {
            max = Math.max(max, logits[from + k]);
        }
        double sum = 0;
        for (int k = 0; k < width; k++) {
            sum += Math.exp(logits[from + k] - max);
        }
        for (int k = 0; k < width; k++) {
            mean[k] += scale * Math.exp(logits[from + k] - max) / sum;
        }
    }

    /** {@code dst[at + k] = log(mean[k])}, floored at 1e-30 so a class no teacher believes in stays finite. */
    public static void writeLog(double[] mean, float[] dst, int at) {
        for (int k = 0; k < mean.length; k++) {
            dst[at + k] = (float) Math.log(Math.max(mean[k], 1e-30));
        }
    }

    /** Row-wise ensemble of {@code members} (each [rows × width], row-major) as log mean probabilities. */
    public static float[] logMeanSoftmax(java.util.List<float[]> members, int width) {
        int rows = members.get(0).length / width;
        float[] out = new float[rows * width];
        double[] mean = new double[width];
        for (int r = 0; r < rows; r++) {
            java.util.Arrays.fill(mean, 0);
            for (float[] m : members) {
                addSoftmax(m, r * width, mean, 1.0 / members.size());
            }
            writeLog(mean, out, r * width);
        }
        return out;
    }
}

package io.distillery.config;

import com.typesafe.config.Config;

import java.io.Serializable;
import java.util.List;

/**
 * How one model is trained on Spark, by parameter averaging or gradient sharing: the same schema for
 * teacher, student and baseline.
 */
public record TrainSettings(int epochs, int batchSize, double learningRate, String lrSchedule, double l2,
                            int workers, int averagingFrequency, long seed, String select, boolean augment,
                            String mode, GradientSharing sharing) implements Serializable {
    /** Keep the epoch with the best validation accuracy (early stopping without stopping). */
    public static final String BEST_VALIDATION = "best-validation";
    public static final String LAST = "last";
    public static final String PARAMETER_AVERAGING = "parameter-averaging";
    public static final String GRADIENT_SHARING = "gradient-sharing";

    /**
     * DL4J's SharedTrainingMaster settings. Each worker sends an element of its update as plus or minus
     * {@code threshold} once it reaches it (the rest waits as a residual), so a parameter moves at most
     * threshold per step and worker: 0 means learning-rate / workers, which lets Adam's steps (about
     * the learning rate) through. {@code port}: the UDP port of Aeron on the driver and each executor.
     * {@code networkMask}: the network (CIDR) whose address an executor announces; "" = 127.0.0.1 or $DL4J_VOID_IP.
     */
    public record GradientSharing(double threshold, int port, String networkMask) implements Serializable {
        public static final GradientSharing DEFAULTS = new GradientSharing(0, 40123, "");

        public double thresholdFor(double learningRate, int workers) {
            return threshold > 0 ? threshold : learningRate / Math.max(1, workers);
        }
    }

    public TrainSettings(int epochs, int batchSize, double learningRate, String lrSchedule, double l2,
                         int workers, int averagingFrequency, long seed) {
        this(epochs, batchSize, learningRate, lrSchedule, l2, workers, averagingFrequency, seed, BEST_VALIDATION);
    }

    public TrainSettings(int epochs, int batchSize, double learningRate, String lrSchedule, double l2,
                         int workers, int averagingFrequency, long seed, String select) {
        this(epochs, batchSize, learningRate, lrSchedule, l2, workers, averagingFrequency, seed, select, false);
    }

    public TrainSettings(int epochs, int batchSize, double learningRate, String lrSchedule, double l2,
                         int workers, int averagingFrequency, long seed, String select, boolean augment) {
        this(epochs, batchSize, learningRate, lrSchedule, l2, workers, averagingFrequency, seed, select, augment,
                PARAMETER_AVERAGING, GradientSharing.DEFAULTS);
    }

    static TrainSettings from(String where, Config c) {
        TrainSettings t = new TrainSettings(c.getInt("epochs"), c.getInt("batch-size"), c.getDouble("learning-rate"),
                c.getString("lr-schedule"), c.getDouble("l2"), c.getInt("workers"), c.getInt("averaging-frequency"),
                c.getLong("seed"), c.getString("select"), c.getBoolean("augment"), c.getString("mode"),
                new GradientSharing(c.getDouble("gradient-sharing.threshold"), c.getInt("gradient-sharing.port"),
                        c.getString("gradient-sharing.network-mask")));
        Check.atLeast(where + ".epochs", t.epochs, 1);
        Check.atLeast(where + ".batch-size", t.batchSize, 1);
        Check.positive(where + ".learning-rate", t.learningRate);
        Check.oneOf(where + ".lr-schedule", t.lrSchedule, List.of("linear", "constant"));
        Check.atLeast(where + ".l2", t.l2, 0);
        Check.atLeast(where + ".workers", t.workers, 0);
        Check.atLeast(where + ".averaging-frequency", t.averagingFrequency, 1);
        Check.oneOf(where + ".select", t.select, List.of(BEST_VALIDATION, LAST));
        Check.oneOf(where + ".mode", t.mode, List.of(PARAMETER_AVERAGING, GRADIENT_SHARING));
        Check.atLeast(where + ".gradient-sharing.threshold", t.sharing.threshold, 0);
        Check.atLeast(where + ".gradient-sharing.port", t.sharing.port, 1);
        if (t.sharesGradients() && !t.lrSchedule.equals("constant")) {
            // DL4J's gradient-sharing workers keep their model from the first epoch to the last, so a
            // rate set on the driver between epochs would never reach them.
            throw new io.distillery.errors.BadInputException("config key '" + where + ".lr-schedule' is '" + t.lrSchedule
                    + "'; " + where + ".mode = gradient-sharing needs 'constant' (DL4J's workers keep the first epoch's rate)");
        }
        return t;
    }

    public boolean sharesGradients() {
        return mode.equals(GRADIENT_SHARING);
    }

    /**
     * The Adam learning rate for a 0-based epoch: constant, or linear decay from {@code learningRate}
     * in the first epoch to {@code learningRate / epochs} in the last.
     */
    public double learningRateAt(int epoch) {
        return lrSchedule.equals("constant") ? learningRate : learningRate * (1.0 - (double) epoch / epochs);
    }

    public TrainSettings withEpochs(int newEpochs) {
        return new TrainSettings(newEpochs, batchSize, learningRate, lrSchedule, l2, workers, averagingFrequency, seed, select, augment,
                mode, sharing);
    }
}

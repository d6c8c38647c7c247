package io.distillery.config;

import com.typesafe.config.Config;

import java.io.Serializable;
import java.util.List;

/** How one model is trained with parameter averaging: the same schema for teacher, student and baseline. */
public record TrainSettings(int epochs, int batchSize, double learningRate, String lrSchedule, double l2,
                            int workers, int averagingFrequency, long seed, String select, boolean augment) implements Serializable {
    /** Keep the epoch with the best validation accuracy (early stopping without stopping). */
    public static final String BEST_VALIDATION = "best-validation";
    public static final String LAST = "last";

    public TrainSettings(int epochs, int batchSize, double learningRate, String lrSchedule, double l2,
                         int workers, int averagingFrequency, long seed) {
        this(epochs, batchSize, learningRate, lrSchedule, l2, workers, averagingFrequency, seed, BEST_VALIDATION);
    }

    public TrainSettings(int epochs, int batchSize, double learningRate, String lrSchedule, double l2,
                         int workers, int averagingFrequency, long seed, String select) {
        this(epochs, batchSize, learningRate, lrSchedule, l2, workers, averagingFrequency, seed, select, false);
    }

    static TrainSettings from(String where, Config c) {
        TrainSettings t = new TrainSettings(c.getInt("epochs"), c.getInt("batch-size"), c.getDouble("learning-rate"),
                c.getString("lr-schedule"), c.getDouble("l2"), c.getInt("workers"), c.getInt("averaging-frequency"),
                c.getLong("seed"), c.getString("select"), c.getBoolean("augment"));
        Check.atLeast(where + ".epochs", t.epochs, 1);
        Check.atLeast(where + ".batch-size", t.batchSize, 1);
        Check.positive(where + ".learning-rate", t.learningRate);
        Check.oneOf(where + ".lr-schedule", t.lrSchedule, List.of("linear", "constant"));
        Check.atLeast(where + ".l2", t.l2, 0);
        Check.atLeast(where + ".workers", t.workers, 0);
        Check.atLeast(where + ".averaging-frequency", t.averagingFrequency, 1);
        Check.oneOf(where + ".select", t.select, List.of(BEST_VALIDATION, LAST));
        return t;
    }

    /**
     * The Adam learning rate for a 0-based epoch: constant, or linear decay from {@code learningRate}
     * in the first epoch to {@code learningRate / epochs} in the last.
     */
    public double learningRateAt(int epoch) {
        return lrSchedule.equals("constant") ? learningRate : learningRate * (1.0 - (double) epoch / epochs);
    }

    public TrainSettings withEpochs(int newEpochs) {
        return new TrainSettings(newEpochs, batchSize, learningRate, lrSchedule, l2, workers, averagingFrequency, seed, select, augment);
    }
}

package io.distillery.train;

import java.util.Map;

/**
 * One line of {@code metrics.jsonl}: an epoch's wall time, DL4J's averaged training score, each
 * head's weighted loss on a training sample, validation accuracy, and method-specific measures on
 * the same sample ({@code probes}, e.g. a discriminator's accuracy).
 */
public record EpochMetrics(int epoch, double seconds, double trainScore, Map<String, Double> loss,
                           double validationAccuracy, long examples, int averagingRounds, Map<String, Double> probes) {
    public EpochMetrics {
        probes = probes == null ? Map.of() : probes;
    }

    public EpochMetrics(int epoch, double seconds, double trainScore, Map<String, Double> loss, double validationAccuracy, long examples,
                        int averagingRounds) {
        this(epoch, seconds, trainScore, loss, validationAccuracy, examples, averagingRounds, Map.of());
    }
}

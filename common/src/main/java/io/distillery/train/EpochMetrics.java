package io.distillery.train;

import java.util.Map;

/**
 * One line of {@code metrics.jsonl}: an epoch's wall time, DL4J's averaged training score, each
 * head's weighted loss on a training sample, and validation accuracy.
 */
public record EpochMetrics(int epoch, double seconds, double trainScore, Map<String, Double> loss,
                           double validationAccuracy, long examples, int averagingRounds) {
}

package io.distillery.method;

import java.util.List;
import java.util.Map;

/**
 * One distillation method: it reads some teacher outputs and adds output heads (with their losses
 * and weights) to the student graph. Methods compose: a run attaches several, and the total loss
 * is the sum of their heads' weighted losses.
 */
public interface DistillationMethod {

    /** Short name used in logs, metrics and reports. */
    String name();

    /** Adds this method's heads to {@code graph}, checking that {@code teacher} provides what it needs. */
    void attach(DistillationGraph graph, TeacherOutputs teacher);

    /**
     * Per-epoch weight multipliers this method wants for heads of the finished graph (its own, or for
     * a curriculum the others' too), by head name; the last value holds for later epochs. None by default.
     */
    default Map<String, List<Double>> schedule(List<String> heads) {
        return Map.of();
    }
}

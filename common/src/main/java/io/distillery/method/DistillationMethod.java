package io.distillery.method;

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
}

package io.distillery.method;

/**
 * A method that supplies the student's classifier head itself instead of the zoo's pool and dense
 * layer (KDFM's shared classifier). At most one per student.
 */
public interface ClassifierHead {

    /** Adds layers from the feature map {@code features} up to a vertex named {@value io.distillery.model.ModelZoo#LOGITS}. */
    void attachHead(DistillationGraph graph, String features, int classes, TeacherOutputs teacher);
}

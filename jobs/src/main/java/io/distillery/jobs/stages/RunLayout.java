package io.distillery.jobs.stages;

import io.distillery.config.PipelineConfig;
import io.distillery.runtime.Storage;

/**
 * Where each stage writes inside a run directory:
 * <pre>
 * examples/                   examples table
 * teachers/NAME/              model.zip, metrics.jsonl, checkpoints/ (one per ensemble member)
 * teacher-outputs/NAME/       teacher outputs table (an ensemble's: NAME = teacher.name)
 * students/NAME/              distilled student
 * students/NAME-baseline/     the same architecture trained on labels alone
 * reports/                    report.json, report.md, *.png
 * </pre>
 * Every directory carries its {@code _manifest.json}.
 */
public record RunLayout(String root, String teacherName, String studentName) {

    public static RunLayout of(Storage storage, PipelineConfig config) {
        return new RunLayout(storage.qualify(config.runDir()), config.teacher().name(), config.student().name());
    }

    public String examples() {
        return Storage.join(root, "examples");
    }

    public String teacher() {
        return Storage.join(root, "teachers", teacherName);
    }

    /** An ensemble member's model directory (the single teacher's, for its own name). */
    public String teacher(String name) {
        return Storage.join(root, "teachers", name);
    }

    public String teacherOutputs() {
        return Storage.join(root, "teacher-outputs", teacherName);
    }

    /** Another model's directory under students/ (a sequential FEED generation). */
    public String student(String name) {
        return Storage.join(root, "students", name);
    }

    /** Another model's outputs table under teacher-outputs/ (a sequential FEED generation as the next one's teacher). */
    public String teacherOutputs(String name) {
        return Storage.join(root, "teacher-outputs", name);
    }

    public String student() {
        return Storage.join(root, "students", studentName);
    }

    public String baseline() {
        return Storage.join(root, "students", studentName + "-baseline");
    }

    public String reports() {
        return Storage.join(root, "reports");
    }
}

package io.distillery.jobs.stages;

import io.distillery.config.PipelineConfig;
import io.distillery.runtime.Storage;

/**
 * Where each stage writes inside a run directory:
 * <pre>
 * examples/                   examples table
 * teachers/NAME/              model.zip, metrics.jsonl, checkpoints/
 * teacher-outputs/NAME/       teacher outputs table
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

    public String teacherOutputs() {
        return Storage.join(root, "teacher-outputs", teacherName);
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

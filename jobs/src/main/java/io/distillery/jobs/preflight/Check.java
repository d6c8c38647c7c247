package io.distillery.jobs.preflight;

/**
 * The outcome of one preflight check: one line, saying what was found and, for a problem, what to
 * set. Only {@link Status#PROBLEM} fails the preflight; a warning is something that works but is
 * likely not what was meant.
 */
public record Check(String name, Status status, String message) {
    public enum Status {
        OK("ok"), WARN("warn"), PROBLEM("PROBLEM");

        private final String word;

        Status(String word) {
            this.word = word;
        }
    }

    public static Check ok(String name, String message) {
        return new Check(name, Status.OK, message);
    }

    public static Check warn(String name, String message) {
        return new Check(name, Status.WARN, message);
    }

    public static Check problem(String name, String message) {
        return new Check(name, Status.PROBLEM, message);
    }

    public boolean isProblem() {
        return status == Status.PROBLEM;
    }

    /** {@code PROBLEM kryo      spark.kryo.registrator is not set; set ...} */
    public String line() {
        return String.format("%-7s %-9s %s", status.word, name, message);
    }
}

package io.distillery.errors;

/**
 * Input the user can fix: a missing file, a corrupt record, an unknown key, a shape that does not
 * fit. The message is one line that names the file, column, layer or key and says what was expected;
 * the command line prints it without a stack trace and exits with status 2.
 */
public class BadInputException extends RuntimeException {
    public BadInputException(String message) {
        super(message);
    }

    public BadInputException(String message, Throwable cause) {
        super(message, cause);
    }

    /**
     * The message of a BadInputException in {@code e}'s cause chain, also when Spark carried it back
     * from an executor only as text in its own exception's message; null when there is none.
     */
    public static String find(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof BadInputException) {
                return t.getMessage();
            }
        }
        String marker = BadInputException.class.getName() + ": ";
        for (Throwable t = e; t != null; t = t.getCause()) {
            String m = t.getMessage();
            int at = m == null ? -1 : m.indexOf(marker);
            if (at >= 0) {
                return m.substring(at + marker.length()).lines().findFirst().orElse("").trim();
            }
        }
        return null;
    }
}

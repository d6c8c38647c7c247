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
}

package io.distillery.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.distillery.errors.BadInputException;
import io.distillery.runtime.Storage;
import java.io.InputStream;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code classpath:} models resolve as under spark-submit, where only the context class loader sees the application jar. */
class ModelResourceTest {
    @Test
    void aResourceOnlyTheContextClassLoaderSeesIsFound(@TempDir Path dir) throws Exception {
        byte[] bytes = {1, 2, 3, 4};
        Files.createDirectories(dir.resolve("app"));
        Files.write(dir.resolve("app/teacher.zip"), bytes);
        ClassLoader before = Thread.currentThread().getContextClassLoader();
        try (URLClassLoader application = new URLClassLoader(new URL[]{dir.toUri().toURL()}, before)) {
            assertThrows(BadInputException.class, () -> Models.openModel(Storage.local(), "classpath:/app/teacher.zip"),
                    "without the application loader the resource must be missing, or the test proves nothing");
            Thread.currentThread().setContextClassLoader(application);
            try (InputStream in = Models.openModel(Storage.local(), "classpath:/app/teacher.zip")) {
                assertArrayEquals(bytes, in.readAllBytes());
            }
            BadInputException missing = assertThrows(BadInputException.class,
                    () -> Models.openModel(Storage.local(), "classpath:/app/absent.zip"));
            assertTrue(missing.getMessage().contains("classpath:/app/absent.zip"), missing.getMessage());
        } finally {
            Thread.currentThread().setContextClassLoader(before);
        }
    }
}

package io.distillery.prep;

import io.distillery.config.ConfigLoader;
import io.distillery.config.PipelineConfig;
import io.distillery.data.ImageShape;
import io.distillery.runtime.Storage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SourcePlannerTest {
    @TempDir
    Path root;

    private void gray(String relativePath, int h, int w) throws IOException {
        Path file = root.resolve(relativePath);
        Files.createDirectories(file.getParent());
        assertTrue(ImageIO.write(new BufferedImage(w, h, BufferedImage.TYPE_BYTE_GRAY), "png", file.toFile()));
    }

    private SourcePlanner.Plan plan(String... sets) {
        List<String> all = new ArrayList<>(List.of("data.format=image-folder", "data.path=" + root));
        all.addAll(List.of(sets));
        PipelineConfig config = ConfigLoader.load(null, null, all);
        return SourcePlanner.plan(Storage.local(), config);
    }

    /** Spark ships the planned sources to its tasks with Java serialization. */
    @Test
    void imageFolderSourcesSurviveJavaSerialization() throws Exception {
        gray("a/1.png", 3, 3);
        gray("b/2.png", 3, 3);
        List<RawSource> sources = plan().sources();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(new ArrayList<>(sources));
        }
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            assertEquals(sources, in.readObject());
        }
    }

    @Test
    void withoutImageSizeTheFirstImagesShapeIsKeptAndWithItImagesAreResized() throws IOException {
        gray("a/1.png", 5, 7);
        gray("b/2.png", 5, 7);
        SourcePlanner.Plan stored = plan();
        assertEquals(new ImageShape(5, 7, 1), stored.shape());
        assertFalse(stored.sources().get(0).resizeImages());

        SourcePlanner.Plan resized = plan("data.image-size=[32, 32, 3]");
        assertEquals(new ImageShape(32, 32, 3), resized.shape());
        assertTrue(resized.sources().get(0).resizeImages());
        // The shape decision is part of the provenance's inputs.
        assertNotEquals(stored.fingerprints(), resized.fingerprints());
    }
}

package io.distillery.table;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.distillery.errors.BadInputException;
import io.distillery.runtime.Storage;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The staging, skip, refuse, replace and resume rules of every stage's output directory. */
class StagedOutputTest {
    private static final Provenance PROV = Provenance.of("prep", "{\"limit\":10,\"seed\":42}", Map.of("source", "sha256:aa"));

    @TempDir
    Path dir;
    private final Storage storage = Storage.local();
    private String out;
    private String partial;

    @BeforeEach
    void paths() {
        out = dir.resolve("examples").toString();
        partial = out + ".partial";
    }

    private static Manifest manifest(Provenance provenance) {
        return new Manifest(ExamplesTable.KIND, Manifest.FORMAT_VERSION, 3, "xxh64:0f", List.of(
                ColumnSpec.plain("id", "int64", "example id"),
                new ColumnSpec("image", "binary", "uint8", List.of(28, 28, 1), "HWC", null, "pixels")),
                Map.of("class_names", List.of("a", "b"), "classes", 2), provenance);
    }

    /** Opens, writes {@code file} into staging and commits: a finished output. */
    private void finish(Provenance provenance, String file) {
        StagedOutput o = StagedOutput.open(storage, out, provenance, false, false);
        storage.writeString(Storage.join(o.staging(), file), "data");
        o.commit(manifest(provenance));
    }

    private String refused(Provenance provenance) {
        return assertThrows(BadInputException.class, () -> StagedOutput.open(storage, out, provenance, false, false)).getMessage();
    }

    @Test
    void freshOutputIsStagedThenCommitted() {
        StagedOutput o = StagedOutput.open(storage, out, PROV, false, false);
        assertFalse(o.upToDate());
        assertFalse(o.resuming());
        assertEquals(partial, o.staging());
        assertTrue(storage.isDirectory(partial));
        assertTrue(storage.exists(Storage.join(partial, "_provenance.json")));
        assertFalse(storage.exists(out), "nothing at the target before commit");

        storage.writeString(Storage.join(partial, "part-0"), "data");
        o.commit(manifest(PROV));
        assertFalse(storage.exists(partial));
        assertEquals("data", storage.readString(Storage.join(out, "part-0")));
        assertTrue(storage.exists(Storage.join(out, Manifest.FILE)));
        assertFalse(storage.exists(Storage.join(out, "_provenance.json")));
        assertEquals(manifest(PROV), Manifest.read(storage, out));
    }

    @Test
    void sameProvenanceIsUpToDate() {
        finish(PROV, "part-0");
        // A rebuild (other code version, later time) is still the same work.
        Provenance again = Provenance.of("prep", "{\"seed\":42,\"limit\":10}", Map.of("source", "sha256:aa"));
        StagedOutput o = StagedOutput.open(storage, out, again, false, false);
        assertTrue(o.upToDate());
        assertFalse(storage.exists(partial), "an up-to-date output stages nothing");
    }

    @Test
    void differentConfigIsRefusedWithoutForce() {
        finish(PROV, "part-0");
        String message = refused(Provenance.of("prep", "{\"limit\":20,\"seed\":42}", Map.of("source", "sha256:aa")));
        assertTrue(message.contains("--force"), message);
        assertTrue(message.contains("config limit"), message);
        assertFalse(message.contains("seed"), message);
        assertTrue(storage.exists(Storage.join(out, "part-0")), "the existing output is left alone");
        assertFalse(storage.exists(partial));
    }

    @Test
    void differentInputIsRefusedWithoutForce() {
        finish(PROV, "part-0");
        String message = refused(Provenance.of("prep", "{\"limit\":10,\"seed\":42}", Map.of("source", "sha256:bb")));
        assertTrue(message.contains("--force"), message);
        assertTrue(message.contains("input source"), message);
        assertFalse(message.contains("config"), message);
    }

    @Test
    void forceReplacesOnCommit() {
        finish(PROV, "old-part");
        Provenance changed = Provenance.of("prep", "{\"limit\":20,\"seed\":42}", Map.of("source", "sha256:aa"));
        StagedOutput o = StagedOutput.open(storage, out, changed, true, false);
        assertFalse(o.upToDate());
        assertTrue(storage.exists(Storage.join(out, "old-part")), "replaced only on commit");

        storage.writeString(Storage.join(o.staging(), "new-part"), "data");
        o.commit(manifest(changed));
        assertFalse(storage.exists(Storage.join(out, "old-part")));
        assertTrue(storage.exists(Storage.join(out, "new-part")));
        assertFalse(storage.exists(out + ".replaced"));
        assertFalse(storage.exists(partial));
        assertTrue(Manifest.read(storage, out).provenance().sameWork(changed));
    }

    @Test
    void forceWithSameProvenanceRedoesTheWork() {
        finish(PROV, "part-0");
        assertFalse(StagedOutput.open(storage, out, PROV, true, false).upToDate());
    }

    @Test
    void directoryWithoutManifestIsRefusedWithoutForce() {
        storage.writeString(Storage.join(out, "foreign.txt"), "not ours");
        String message = refused(PROV);
        assertTrue(message.contains(Manifest.FILE) && message.contains("--force"), message);
        assertTrue(storage.exists(Storage.join(out, "foreign.txt")));

        StagedOutput o = StagedOutput.open(storage, out, PROV, true, false);
        o.commit(manifest(PROV));
        assertFalse(storage.exists(Storage.join(out, "foreign.txt")));
    }

    /** A partial directory as a crashed run with {@code provenance} leaves it. */
    private void crashedRun(Provenance provenance) {
        StagedOutput.open(storage, out, provenance, false, false);
        storage.writeString(Storage.join(partial, "checkpoint"), "epoch 1");
    }

    @Test
    void stalePartialIsDeletedWhenNotResuming() {
        crashedRun(PROV);
        StagedOutput o = StagedOutput.open(storage, out, PROV, false, false);
        assertFalse(o.resuming());
        assertTrue(storage.exists(partial));
        assertFalse(storage.exists(Storage.join(partial, "checkpoint")));
    }

    @Test
    void stalePartialIsKeptWhenResumingTheSameWork() {
        crashedRun(PROV);
        StagedOutput o = StagedOutput.open(storage, out, PROV, false, true);
        assertTrue(o.resuming());
        assertEquals("epoch 1", storage.readString(Storage.join(partial, "checkpoint")));
    }

    @Test
    void stalePartialOfOtherWorkIsDeletedWithAWarningWhenResuming() {
        crashedRun(Provenance.of("prep", "{\"limit\":20,\"seed\":42}", Map.of("source", "sha256:aa")));
        StagedOutput o;
        try (LogCapture log = new LogCapture(StagedOutput.class)) {
            o = StagedOutput.open(storage, out, PROV, false, true);
            assertTrue(log.lines().stream().anyMatch(l -> l.startsWith("WARN") && l.contains("cannot resume") && l.contains("config limit")),
                    () -> "log: " + log.lines());
        }
        assertFalse(o.resuming());
        assertFalse(storage.exists(Storage.join(partial, "checkpoint")));
        assertTrue(Provenance.of("prep", "{\"limit\":10,\"seed\":42}", Map.of("source", "sha256:aa"))
                .sameWork(Json.read(storage.readString(Storage.join(partial, "_provenance.json")), Provenance.class, "p")),
                "the new staging records the new provenance");
    }

    @Test
    void abandonDeletesStaging() {
        StagedOutput o = StagedOutput.open(storage, out, PROV, false, false);
        storage.writeString(Storage.join(o.staging(), "part-0"), "data");
        o.abandon();
        assertFalse(storage.exists(partial));
        assertFalse(storage.exists(out));
    }

    @Test
    void manifestRoundTripsWithSnakeCaseKeys() {
        Manifest m = manifest(PROV);
        m.write(storage, out);
        assertEquals(m, Manifest.read(storage, out));

        JsonNode json = Json.tree(storage.readString(Storage.join(out, Manifest.FILE)));
        assertEquals("xxh64:0f", json.get("content_hash").asText());
        assertEquals(Manifest.FORMAT_VERSION, json.get("format_version").asInt());
        assertTrue(json.get("provenance").has("code_version"));
        assertTrue(json.get("provenance").has("created_at"));
        assertFalse(json.has("contentHash") || json.has("formatVersion"));
        assertFalse(json.get("columns").get(0).has("encoding"), "null fields are left out");
    }

    @Test
    void sameWorkIgnoresCodeVersionAndCreationTime() {
        JsonNode config = Json.tree("{\"a\":1}");
        Provenance p = new Provenance("train", config, Map.of("in", "h1"), "0.1.0", "2024-01-01T00:00:00Z");
        assertTrue(p.sameWork(new Provenance("train", config, Map.of("in", "h1"), "0.2.0", "2025-06-01T00:00:00Z")));
        assertFalse(p.sameWork(new Provenance("distill", config, Map.of("in", "h1"), "0.1.0", "2024-01-01T00:00:00Z")));
        assertFalse(p.sameWork(new Provenance("train", Json.tree("{\"a\":2}"), Map.of("in", "h1"), "0.1.0", "2024-01-01T00:00:00Z")));
        assertFalse(p.sameWork(new Provenance("train", config, Map.of("in", "h2"), "0.1.0", "2024-01-01T00:00:00Z")));
        assertFalse(p.sameWork(null));
        assertNotEquals(List.of(), p.differences(new Provenance("train", config, Map.of(), "0.1.0", "x")));
    }
}

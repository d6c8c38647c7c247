package io.distillery.table;

import io.distillery.errors.BadInputException;
import io.distillery.runtime.Storage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The write discipline of every stage: work happens in {@code <output>.partial/}, and only a complete
 * result is renamed to {@code <output>/}. An existing output with the same provenance is kept (the
 * stage is skipped); one with different provenance is replaced only with {@code --force}. A partial
 * directory left by a crash is reused with {@code --resume} (training stages resume from its
 * checkpoints) and otherwise discarded.
 */
public final class StagedOutput {
    private static final Logger log = LoggerFactory.getLogger(StagedOutput.class);
    private static final String PROVENANCE_FILE = "_provenance.json";

    private final Storage storage;
    private final String target;
    private final String staging;
    private final Provenance provenance;
    private final boolean upToDate;
    private final boolean resuming;

    private StagedOutput(Storage storage, String target, Provenance provenance, boolean upToDate, boolean resuming) {
        this.storage = storage;
        this.target = target;
        this.staging = target + ".partial";
        this.provenance = provenance;
        this.upToDate = upToDate;
        this.resuming = resuming;
    }

    public static StagedOutput open(Storage storage, String target, Provenance provenance, boolean force, boolean resume) {
        if (storage.exists(target)) {
            if (!storage.exists(Storage.join(target, Manifest.FILE))) {
                if (!force) {
                    throw new BadInputException("output " + target + " exists but has no " + Manifest.FILE
                            + " (not written by Distillery?); pass --force to replace it");
                }
            } else {
                Provenance existing = Manifest.read(storage, target).provenance();
                if (provenance.sameWork(existing) && !force) {
                    return new StagedOutput(storage, target, provenance, true, false);
                }
                if (!force) {
                    throw new BadInputException("output " + target + " exists with different provenance ("
                            + String.join(", ", provenance.differences(existing)) + "); pass --force to replace it");
                }
            }
        }
        String staging = target + ".partial";
        boolean resuming = false;
        if (storage.exists(staging)) {
            String provPath = Storage.join(staging, PROVENANCE_FILE);
            Provenance partial = storage.exists(provPath) ? Json.read(storage.readString(provPath), Provenance.class, provPath) : null;
            if (resume && provenance.sameWork(partial)) {
                resuming = true;
            } else {
                if (resume) {
                    log.warn("cannot resume {}: its partial output was made with different provenance ({}); starting over",
                            target, String.join(", ", provenance.differences(partial)));
                } else {
                    log.info("removing partial output {} left by an earlier run (use --resume to continue it)", staging);
                }
                storage.delete(staging);
            }
        }
        storage.mkdirs(staging);
        storage.writeString(Storage.join(staging, PROVENANCE_FILE), Json.pretty(provenance));
        return new StagedOutput(storage, target, provenance, false, resuming);
    }

    /** True when the output already exists with the same provenance: the stage has nothing to do. */
    public boolean upToDate() {
        return upToDate;
    }

    /** True when an earlier run's partial output (with its checkpoints) is being continued. */
    public boolean resuming() {
        return resuming;
    }

    public String staging() {
        return staging;
    }

    public String target() {
        return target;
    }

    public Provenance provenance() {
        return provenance;
    }

    /** Writes the manifest into the staging directory and renames it into place. */
    public void commit(Manifest manifest) {
        manifest.write(storage, staging);
        storage.delete(Storage.join(staging, PROVENANCE_FILE));
        if (storage.exists(target)) {
            String old = target + ".replaced";
            storage.delete(old);
            storage.rename(target, old);
            storage.rename(staging, target);
            storage.delete(old);
        } else {
            storage.rename(staging, target);
        }
    }

    /** Deletes the staging directory after a failure that cannot be resumed (bad input). */
    public void abandon() {
        storage.delete(staging);
    }
}

package io.distillery.model;

import io.distillery.errors.BadInputException;
import io.distillery.runtime.Storage;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;

/** Reading and writing DL4J model zips through Hadoop's file system, and moving them as bytes. */
public final class Models {
    public static final String MODEL_FILE = "model.zip";

    private Models() {
    }

    public static byte[] toBytes(ComputationGraph graph, boolean withUpdater) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            ModelSerializer.writeModel(graph, out, withUpdater);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    public static ComputationGraph fromBytes(byte[] bytes, boolean withUpdater) {
        try {
            return ModelSerializer.restoreComputationGraph(new ByteArrayInputStream(bytes), withUpdater);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static void write(Storage storage, String path, ComputationGraph graph, boolean withUpdater) {
        storage.writeBytes(path, toBytes(graph, withUpdater));
    }

    /** Loads a ComputationGraph zip from a Hadoop path or a {@code classpath:} resource. */
    public static ComputationGraph read(Storage storage, String path, boolean withUpdater) {
        try (InputStream in = openModel(storage, path)) {
            return ModelSerializer.restoreComputationGraph(in, withUpdater);
        } catch (BadInputException e) {
            throw e;
        } catch (Exception e) {
            throw new BadInputException("model " + path + " is not a DL4J ComputationGraph zip: " + e.getMessage(), e);
        }
    }

    public static InputStream openModel(Storage storage, String path) {
        if (path.startsWith("classpath:")) {
            String resource = path.substring("classpath:".length());
            String name = resource.startsWith("/") ? resource.substring(1) : resource;
            // Under spark-submit our classes may come from the cluster's jars while the resource is in
            // the application jar, which only Spark's context class loader sees.
            ClassLoader context = Thread.currentThread().getContextClassLoader();
            InputStream in = context == null ? null : context.getResourceAsStream(name);
            if (in == null) {
                in = Models.class.getResourceAsStream("/" + name);
            }
            if (in == null) {
                throw new BadInputException("model resource " + path + " is not on the class path");
            }
            return in;
        }
        if (!storage.exists(path)) {
            throw new BadInputException("model file " + path + " does not exist");
        }
        return storage.open(path);
    }

    /** Copies a model file (path or classpath resource) to {@code target}. */
    public static void copy(Storage storage, String source, String target) {
        try (InputStream in = openModel(storage, source); OutputStream out = storage.create(target)) {
            in.transferTo(out);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot copy " + source + " to " + target, e);
        }
    }
}

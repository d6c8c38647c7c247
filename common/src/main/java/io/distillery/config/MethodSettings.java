package io.distillery.config;

import com.typesafe.config.Config;
import io.distillery.errors.BadInputException;

import java.io.Serializable;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Settings of the feature-level methods under {@code distill}: each block is off while its weight
 * is 0. Reconstructed methods carry a {@code variant} so that every report says which formulation ran.
 */
public final class MethodSettings {
    /** The only formulation of RTK, KDFM and FEED implemented so far: the method cards' reconstructions. */
    public static final String RECONSTRUCTED_V0 = "reconstructed-v0";

    private MethodSettings() {
    }

    /** Attention transfer: weight β times the mean squared difference of paired attention maps. */
    public record At(double weight, List<String> studentLayers, List<String> teacherLayers) implements Serializable {
        static At from(Config c) {
            At at = new At(c.getDouble("weight"), c.getStringList("student-layers"), c.getStringList("teacher-layers"));
            Check.atLeast("distill.at.weight", at.weight, 0);
            pairs("distill.at", at.weight, at.studentLayers, at.teacherLayers);
            return at;
        }

        public static At off() {
            return new At(0, List.of(), List.of());
        }
    }

    /** RTK reconstruction: AT against a per-example mix of the teacher's most query-like channel maps. */
    public record Rtk(String variant, double weight, double rho, double tau, List<String> studentLayers, List<String> teacherLayers)
            implements Serializable {
        static Rtk from(Config c) {
            Rtk r = new Rtk(c.getString("variant"), c.getDouble("weight"), c.getDouble("rho"), c.getDouble("tau"),
                    c.getStringList("student-layers"), c.getStringList("teacher-layers"));
            Check.oneOf("distill.rtk.variant", r.variant, List.of(RECONSTRUCTED_V0));
            Check.atLeast("distill.rtk.weight", r.weight, 0);
            if (!(r.rho > 0 && r.rho <= 1)) {
                throw new BadInputException("config key 'distill.rtk.rho' must be in (0, 1], got " + r.rho);
            }
            Check.positive("distill.rtk.tau", r.tau);
            pairs("distill.rtk", r.weight, r.studentLayers, r.teacherLayers);
            return r;
        }

        public static Rtk off() {
            return new Rtk(RECONSTRUCTED_V0, 0, 0.5, 0.1, List.of(), List.of());
        }
    }

    /**
     * KDFM reconstruction: the student's feature map, through a connector, feeds the teacher's frozen
     * classifier (shared classifier), and a discriminator tells student maps from teacher maps.
     */
    public record Kdfm(String variant, boolean sharedClassifier, String studentLayer, String teacherTap, double adversarialWeight,
                       int rampEpochs, double realLabel) implements Serializable {
        static Kdfm from(Config c) {
            Kdfm k = new Kdfm(c.getString("variant"), c.getBoolean("shared-classifier"), c.getString("student-layer"),
                    c.getString("teacher-tap"), c.getDouble("adversarial-weight"), c.getInt("ramp-epochs"), c.getDouble("real-label"));
            Check.oneOf("distill.kdfm.variant", k.variant, List.of(RECONSTRUCTED_V0));
            Check.atLeast("distill.kdfm.adversarial-weight", k.adversarialWeight, 0);
            Check.atLeast("distill.kdfm.ramp-epochs", k.rampEpochs, 0);
            if (!(k.realLabel > 0.5 && k.realLabel <= 1)) {
                throw new BadInputException("config key 'distill.kdfm.real-label' must be in (0.5, 1], got " + k.realLabel);
            }
            if (k.enabled() && (k.studentLayer.isBlank() || k.teacherTap.isBlank())) {
                throw new BadInputException("config: distill.kdfm needs distill.kdfm.student-layer and distill.kdfm.teacher-tap");
            }
            return k;
        }

        public boolean enabled() {
            return sharedClassifier || adversarialWeight > 0;
        }

        public static Kdfm off() {
            return new Kdfm(RECONSTRUCTED_V0, false, "", "", 0, 0, 0.9);
        }
    }

    /**
     * InDistill: each student layer regresses the teacher layer pruned to its width, one layer at a
     * time, shallow first ({@code stageEpochs[i]} epochs for pair i), before the final objective.
     */
    public record InDistill(double weight, List<String> studentLayers, List<String> teacherLayers, List<Integer> stageEpochs)
            implements Serializable {
        static InDistill from(Config c) {
            InDistill d = new InDistill(c.getDouble("weight"), c.getStringList("student-layers"), c.getStringList("teacher-layers"),
                    c.getIntList("stage-epochs"));
            Check.atLeast("distill.indistill.weight", d.weight, 0);
            pairs("distill.indistill", d.weight, d.studentLayers, d.teacherLayers);
            if (d.weight > 0 && d.stageEpochs.size() != d.studentLayers.size()) {
                throw new BadInputException("config key 'distill.indistill.stage-epochs' needs one entry per layer pair ("
                        + d.studentLayers.size() + "), got " + d.stageEpochs);
            }
            for (int i = 0; i < d.stageEpochs.size(); i++) {
                Check.atLeast("distill.indistill.stage-epochs[" + i + "]", d.stageEpochs.get(i), 0);
            }
            return d;
        }

        public static InDistill off() {
            return new InDistill(0, List.of(), List.of(), List.of());
        }
    }

    /**
     * Parallel FEED reconstruction: one non-linear translator per ensemble member on {@code studentLayer},
     * each matched to that member's raw {@code teacherTap} by the L1 distance of L2-normalised maps;
     * {@code weight} is β on the paper's per-example L1 sum (see {@code NormalizedL1Loss}).
     * {@code generations} = 1 is parallel FEED (every selected teacher at once); G > 1 adds
     * sequential FEED, G students in a chain, generation g learning from generation g-1's stored
     * {@code student-layer} (generation 1 from the teachers' {@code teacher-tap}).
     */
    public record Feed(String variant, double weight, String studentLayer, String teacherTap, int generations) implements Serializable {
        public Feed(String variant, double weight, String studentLayer, String teacherTap) {
            this(variant, weight, studentLayer, teacherTap, 1);
        }

        static Feed from(Config c) {
            Feed f = new Feed(c.getString("variant"), c.getDouble("weight"), c.getString("student-layer"), c.getString("teacher-tap"),
                    c.getInt("generations"));
            Check.atLeast("distill.feed.generations", f.generations, 1);
            if (f.generations > 1 && f.weight == 0) {
                throw new BadInputException("config: distill.feed.generations = " + f.generations + " (sequential FEED) needs distill.feed.weight > 0");
            }
            Check.oneOf("distill.feed.variant", f.variant, List.of(RECONSTRUCTED_V0));
            Check.atLeast("distill.feed.weight", f.weight, 0);
            if (f.weight > 0 && (f.studentLayer.isBlank() || f.teacherTap.isBlank())) {
                throw new BadInputException("config: distill.feed.weight > 0 needs distill.feed.student-layer and distill.feed.teacher-tap");
            }
            return f;
        }

        public static Feed off() {
            return new Feed(RECONSTRUCTED_V0, 0, "", "", 1);
        }
    }

    /**
     * CDFKD-MFS (Hao et al., TMM 2022), {@value #RECONSTRUCTED_V0}: data-free distillation of several
     * teachers into a multi-header student through a generator, as one graph (see
     * {@code io.distillery.method.CdfkdMfs}). {@code headers} 0 means one header per teacher;
     * {@code attentionSamples} 0 means the plain mean of the headers; N > 1 trains the card's attention over
     * them on the first N training images by id.
     * {@code classWeight} > 0 is our addition, not the card's: a class-conditional generator (see
     * {@code CdfkdMfs}); 0 is the card's game.
     */
    public record CdfkdMfs(boolean enabled, String variant, int noiseDim, int headers, double ensembleWeight, double headerWeight,
                           double generatorWeight, double bnWeight, double firstBnRatio, double reversalScale,
                           double generatorLearningRate, int batchesPerEpoch, int attentionSamples, List<Integer> generatorWidths,
                           double classWeight)
            implements Serializable {
        /** The card's generator widths (128, 64) and game (no class-conditional term). */
        public CdfkdMfs(boolean enabled, String variant, int noiseDim, int headers, double ensembleWeight, double headerWeight,
                        double generatorWeight, double bnWeight, double firstBnRatio, double reversalScale,
                        double generatorLearningRate, int batchesPerEpoch, int attentionSamples) {
            this(enabled, variant, noiseDim, headers, ensembleWeight, headerWeight, generatorWeight, bnWeight, firstBnRatio, reversalScale,
                    generatorLearningRate, batchesPerEpoch, attentionSamples, List.of(128, 64), 0);
        }

        /** With the same settings but the class-conditional term at {@code weight}. */
        public CdfkdMfs withClassWeight(double weight) {
            return new CdfkdMfs(enabled, variant, noiseDim, headers, ensembleWeight, headerWeight, generatorWeight, bnWeight, firstBnRatio,
                    reversalScale, generatorLearningRate, batchesPerEpoch, attentionSamples, generatorWidths, weight);
        }

        public static CdfkdMfs from(Config c) {
            CdfkdMfs m = new CdfkdMfs(c.getBoolean("enabled"), c.getString("variant"), c.getInt("noise-dim"), c.getInt("headers"),
                    c.getDouble("ensemble-weight"), c.getDouble("header-weight"), c.getDouble("generator-weight"),
                    c.getDouble("bn-weight"), c.getDouble("first-bn-ratio"), c.getDouble("reversal-scale"),
                    c.getDouble("generator-learning-rate"), c.getInt("batches-per-epoch"), c.getInt("attention-samples"),
                    List.copyOf(c.getIntList("generator-widths")), c.getDouble("class-weight"));
            m.validate();
            return m;
        }

        /** Throws a {@link BadInputException} naming the first bad key. */
        public void validate() {
            String w = "distill.cdfkd-mfs.";
            Check.oneOf(w + "variant", variant, List.of(RECONSTRUCTED_V0));
            Check.atLeast(w + "noise-dim", noiseDim, 1);
            Check.atLeast(w + "headers", headers, 0);
            Check.atLeast(w + "ensemble-weight", ensembleWeight, 0);
            Check.atLeast(w + "header-weight", headerWeight, 0);
            Check.atLeast(w + "generator-weight", generatorWeight, 0);
            Check.atLeast(w + "bn-weight", bnWeight, 0);
            Check.atLeast(w + "first-bn-ratio", firstBnRatio, 0);
            Check.atLeast(w + "reversal-scale", reversalScale, 0);
            Check.positive(w + "generator-learning-rate", generatorLearningRate);
            Check.atLeast(w + "batches-per-epoch", batchesPerEpoch, 1);
            Check.atLeast(w + "attention-samples", attentionSamples, 0);
            Check.atLeast(w + "class-weight", classWeight, 0);
            if (attentionSamples == 1) {
                throw new BadInputException("config key 'distill.cdfkd-mfs.attention-samples' is 1: the attention step needs at least 2"
                        + " labelled images (one to train on, one held out to choose the epoch); use 0 for the headers' mean");
            }
            if (generatorWidths.size() != 2 || generatorWidths.stream().anyMatch(x -> x < 1)) {
                throw new BadInputException("config key 'distill.cdfkd-mfs.generator-widths' must be two positive channel counts, got "
                        + generatorWidths);
            }
            if (headerWeight == 0 && generatorWeight > 0) {
                throw new BadInputException("config: distill.cdfkd-mfs.generator-weight > 0 needs header-weight > 0 (the generator"
                        + " ascends the per-header discrepancy the student descends, through one loss)");
            }
        }

        /** The reference defaults, disabled. */
        public static CdfkdMfs off() {
            return new CdfkdMfs(false, RECONSTRUCTED_V0, 100, 0, 5.0, 1.0, 1.0, 0.1, 5.0, 0.2, 0.001, 100, 0, List.of(128, 64), 0);
        }

        /** Headers for {@code teachers} teachers: {@code headers}, or one per teacher when 0. */
        public int headersFor(int teachers) {
            return headers > 0 ? headers : teachers;
        }
    }

    /** {@code distill.schedule}: head name to per-epoch weight multipliers (the last one holds afterwards). */
    static Map<String, List<Double>> schedule(Config c) {
        Map<String, List<Double>> schedule = new LinkedHashMap<>();
        for (String head : c.root().keySet()) {
            List<Double> values = c.getDoubleList("\"" + head + "\"");
            if (values.isEmpty()) {
                throw new BadInputException("config key 'distill.schedule." + head + "' is empty; give one weight multiplier per epoch");
            }
            for (int i = 0; i < values.size(); i++) {
                Check.atLeast("distill.schedule." + head + "[" + i + "]", values.get(i), 0);
            }
            schedule.put(head, List.copyOf(values));
        }
        return schedule;
    }

    private static void pairs(String where, double weight, List<String> student, List<String> teacher) {
        if (student.size() != teacher.size()) {
            throw new BadInputException("config keys '" + where + ".student-layers' and '" + where + ".teacher-layers' must pair up, got "
                    + student + " and " + teacher);
        }
        if (weight > 0 && student.isEmpty()) {
            throw new BadInputException("config: " + where + ".weight > 0 needs at least one layer in " + where + ".student-layers");
        }
    }
}

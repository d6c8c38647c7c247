package io.distillery.method;

import io.distillery.errors.BadInputException;
import io.distillery.table.ColumnSpec;
import io.distillery.table.Manifest;
import io.distillery.table.TeacherOutputsTable;
import io.distillery.tensor.ColumnEncoding;
import io.distillery.tensor.TensorEncoding;
import io.distillery.tensor.TopKEncoding;

/**
 * What a method may read from a teacher-outputs table, taken from its manifest. A table written by
 * an ensemble precompute holds every member teacher's columns under a per-member prefix
 * ({@link TeacherOutputsTable#memberPrefix}) plus the ensemble's {@code logits}; {@link #members()}
 * gives one view per member, whose {@link #logits()} and taps are that teacher's own.
 *
 * @param prefix column-name prefix of this view: "" for the table itself, {@code <member>__} for a member
 */
public record TeacherOutputs(String name, Manifest manifest, String prefix, java.util.List<String> selected) {
    /** Manifest property of an ensemble table: the member teachers, in order, each {name, prefix, teacher_hash, ...}. */
    public static final String MEMBERS = "members";

    public TeacherOutputs(String name, Manifest manifest) {
        this(name, manifest, "", null);
    }

    public TeacherOutputs(String name, Manifest manifest, String prefix) {
        this(name, manifest, prefix, null);
    }

    /**
     * The view a student learning from {@code teachers} reads: one member's own view, the table itself
     * when it names every member (or the table's only teacher), else a view over that subset whose KD
     * targets are the subset's ensemble ({@link #kdTargets()}).
     */
    public TeacherOutputs select(java.util.List<String> teachers) {
        java.util.List<String> all = members().stream().map(TeacherOutputs::name).toList();
        if (!isEnsemble() || teachers.isEmpty() || new java.util.HashSet<>(teachers).equals(new java.util.HashSet<>(all))) {
            return this;
        }
        if (teachers.size() == 1) {
            return member(teachers.get(0));
        }
        teachers.forEach(this::member);
        return new TeacherOutputs(name + teachers, manifest, "", java.util.List.copyOf(teachers));
    }

    /**
     * The labels of a KD head: the stored logits, except for a subset of an ensemble, whose members'
     * logits are combined per row into the subset's ensemble (log of the mean softmax probability).
     */
    public LabelSource kdTargets() {
        if (selected == null) {
            return logits();
        }
        java.util.List<LabelSource.TeacherColumn> columns = members().stream().map(TeacherOutputs::logits).toList();
        for (LabelSource.TeacherColumn c : columns) {
            if (c.masked()) {
                throw new BadInputException("teacher outputs " + name + ": an ensemble of a subset of teachers needs dense logits, but '"
                        + c.column() + "' is stored " + c.encoding().manifestName() + "; use all teachers or one, or precompute dense logits");
            }
        }
        return new LabelSource.EnsembleLogits(columns);
    }

    /**
     * Manifest property of logits stored {@code topk-float32-int32-le}: k, the number of classes per
     * row (the column's shape stays the dense {@code [classes]}).
     */
    public static final String LOGITS_TOP_K = "logits_top_k";

    /**
     * The stored logits, {@code width} = the number of classes. Logits stored top-k come back as a
     * {@link TopKEncoding} column: their heads get a label mask (see {@link LabelSource.TeacherColumn}).
     */
    public LabelSource.TeacherColumn logits() {
        if (selected != null) {
            throw new BadInputException("teacher outputs " + name + " are a subset of an ensemble: they have no one stored logits column;"
                    + " read kdTargets() or each member's logits");
        }
        return column(manifest.column(prefix + TeacherOutputsTable.LOGITS));
    }

    /**
     * The member teachers of an ensemble table, in precompute order, each as its own view; a
     * single-teacher table is its own only member.
     */
    public java.util.List<TeacherOutputs> members() {
        Object members = manifest == null ? null : manifest.property(MEMBERS);
        if (!(members instanceof java.util.List<?> list) || !prefix.isEmpty()) {
            return java.util.List.of(this);
        }
        java.util.List<TeacherOutputs> views = new java.util.ArrayList<>();
        for (Object m : list) {
            java.util.Map<?, ?> member = (java.util.Map<?, ?>) m;
            String teacher = String.valueOf(member.get("name"));
            if (selected == null || selected.contains(teacher)) {
                views.add(new TeacherOutputs(teacher, manifest, String.valueOf(member.get("prefix"))));
            }
        }
        return views;
    }

    /** Whether this is an ensemble table's own view (its members' columns sit beside the ensemble logits). */
    public boolean isEnsemble() {
        return manifest != null && prefix.isEmpty() && manifest.property(MEMBERS) != null;
    }

    /** One member by teacher name; an unknown name is a one-line error listing the members. */
    public TeacherOutputs member(String teacher) {
        return members().stream().filter(m -> m.name().equals(teacher)).findFirst()
                .orElseThrow(() -> new BadInputException("teacher outputs " + name + " hold no teacher '" + teacher + "'; teachers: "
                        + members().stream().map(TeacherOutputs::name).toList()));
    }

    /**
     * The manifest column of a stored tap, by its {@code precompute.taps} string: {@code "stage3"} (raw,
     * shape [C, H, W]), {@code "stage2:attention"} ([H, W]) or {@code "stage1:prune-l1=16"} ([16, H, W],
     * kept channels in {@link ColumnSpec#channels()}). A missing one is a one-line error listing the stored taps.
     */
    public ColumnSpec tapSpec(String tap) {
        if (prefix.isEmpty() && isEnsemble()) {
            throw new BadInputException("teacher outputs " + name + " are an ensemble: taps are stored per teacher "
                    + members().stream().map(TeacherOutputs::name).toList() + "; pick one with distill.teachers = [NAME] for a method that reads one teacher's taps");
        }
        return TeacherOutputsTable.tap(manifest, tap, prefix);
    }

    /** A stored tap as labels, by its {@code precompute.taps} string; width = the product of its shape (H·W for attention). */
    public LabelSource.TeacherColumn tap(String tap) {
        return column(tapSpec(tap));
    }

    private LabelSource.TeacherColumn column(ColumnSpec spec) {
        if (spec.encoding() == null || spec.shape() == null) {
            throw new BadInputException("teacher outputs " + name + ": manifest column '" + spec.name() + "' has no encoding or shape");
        }
        return new LabelSource.TeacherColumn(spec.name(), encoding(spec), spec.elementCount());
    }

    private ColumnEncoding encoding(ColumnSpec spec) {
        if (!TopKEncoding.MANIFEST_NAME.equals(spec.encoding())) {
            return TensorEncoding.fromManifestName(spec.encoding());
        }
        Object k = spec.name().equals(prefix + TeacherOutputsTable.LOGITS) ? manifest.property(LOGITS_TOP_K) : null;
        int classes = spec.elementCount();
        if (!(k instanceof Number n) || n.intValue() != n.doubleValue() || n.intValue() < 1 || n.intValue() > classes) {
            throw new BadInputException("teacher outputs " + name + ": manifest column '" + spec.name() + "' is " + TopKEncoding.MANIFEST_NAME
                    + " but the manifest property '" + LOGITS_TOP_K + "' is " + k + ", not a k in 1.." + classes);
        }
        return new TopKEncoding(n.intValue());
    }

    /** A stand-in when no teacher is used (the baseline). */
    public static TeacherOutputs none() {
        return new TeacherOutputs("none", null);
    }
}

package io.distillery.train;

import io.distillery.loss.ScaledLoss;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.BaseOutputLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.lossfunctions.ILossFunction;

import java.io.Serializable;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Per-epoch weight multipliers of output heads, by head name: entry e is the multiplier in 0-based
 * epoch e, the last entry holds for later epochs, and heads not named keep their configured weight.
 * One mechanism for every curriculum, ramp or warm-up.
 */
public record HeadSchedule(Map<String, List<Double>> multipliers) implements Serializable {
    public HeadSchedule {
        multipliers = Map.copyOf(multipliers);
    }

    public static HeadSchedule none() {
        return new HeadSchedule(Map.of());
    }

    public boolean isEmpty() {
        return multipliers.isEmpty();
    }

    public double multiplier(String head, int epoch) {
        List<Double> m = multipliers.get(head);
        return m == null ? 1.0 : m.get(Math.min(epoch, m.size() - 1));
    }

    /** Each scheduled head's multiplier for {@code epoch}, e.g. for the epoch log. */
    public Map<String, Double> at(int epoch) {
        Map<String, Double> values = new LinkedHashMap<>();
        multipliers.keySet().stream().sorted().forEach(h -> values.put(h, multiplier(h, epoch)));
        return values;
    }

    /**
     * Sets every scheduled head's loss to its configured loss times this epoch's multiplier, in the
     * graph's configuration (which Spark workers receive each round) and in the live layer.
     */
    public void apply(ComputationGraph graph, int epoch) {
        for (String head : multipliers.keySet()) {
            double m = multiplier(head, epoch);
            if (!(graph.getConfiguration().getVertices().get(head) instanceof LayerVertex vertex)) {
                throw new IllegalStateException("scheduled head '" + head + "' is not a layer of the graph");
            }
            scale(vertex.getLayerConf().getLayer(), m);
            scale(graph.getLayer(head).conf().getLayer(), m);
        }
    }

    private static void scale(Layer layer, double m) {
        if (!(layer instanceof BaseOutputLayer) && !(layer instanceof org.deeplearning4j.nn.conf.layers.LossLayer)) {
            throw new IllegalStateException("scheduled head '" + layer.getLayerName() + "' has no loss");
        }
        ILossFunction base = ScaledLoss.unwrap(lossOf(layer));
        setLoss(layer, m == 1.0 ? base : new ScaledLoss(base, m));
    }

    private static ILossFunction lossOf(Layer layer) {
        return layer instanceof org.deeplearning4j.nn.conf.layers.LossLayer l ? l.getLossFn() : ((BaseOutputLayer) layer).getLossFn();
    }

    private static void setLoss(Layer layer, ILossFunction loss) {
        if (layer instanceof org.deeplearning4j.nn.conf.layers.LossLayer l) {
            l.setLossFn(loss);
        } else {
            ((BaseOutputLayer) layer).setLossFn(loss);
        }
    }
}

//! An exponential moving average of the weights (Polyak averaging, as TensorFlow's
//! `ExponentialMovingAverage` keeps it): after every optimizer step the average moves toward the
//! current weights, and the average, not the last step's weights, is what a run validates and
//! saves. Everything stays on the device: nothing is read back, so it runs the same on every
//! backend, WebGPU included.

use burn::{
    module::{Module, ModuleMapper, ModuleVisitor, Param},
    prelude::*,
};

/// The decay of the average's update number `t` (0 at the first): `min(decay, (1 + t) / (10 + t))`,
/// TensorFlow's warm-up with `num_updates`. The first updates then follow the weights closely
/// (0.1, 0.18, 0.25, …) instead of keeping the random initialisation for thousands of steps;
/// from `t = (10·decay − 1) / (1 − decay)` on (8,990 for 0.999) the decay is `decay` itself.
pub fn ema_decay(decay: f64, t: usize) -> f64 {
    decay.min((1.0 + t as f64) / (10.0 + t as f64))
}

/// The running average of a model's weights, held as a model of the same kind on the plain
/// (non-autodiff) device, in inference mode.
///
/// Every float parameter `p` is averaged, `avg ← d·avg + (1 − d)·p` with `d` from [`ema_decay`];
/// BatchNorm's running statistics (`running_mean`, `running_var`) are not averaged but copied
/// from the current model, the usual practice: they describe the current weights' activations,
/// and an average of statistics would describe no model at all.
#[derive(Clone, Debug)]
pub struct WeightAverage<M: Module> {
    average: M,
    decay: f64,
}

impl<M: Module> WeightAverage<M> {
    /// Starts the average at `model`'s weights (its update count at 0).
    pub fn new(model: &M, decay: f64) -> Self {
        Self { average: model.valid(), decay }
    }

    /// The average so far, for inference (no autodiff, eval-mode layers).
    pub fn model(&self) -> &M {
        &self.average
    }

    /// The decay this average was asked for (before warm-up).
    pub fn decay(&self) -> f64 {
        self.decay
    }

    /// Update number `t` (0-based; the trainer passes its steps taken before this one): moves the
    /// average toward `current`, the model as the optimizer left it (autodiff or not).
    pub fn update(self, current: &M, t: usize) -> Self {
        let current = current.valid();
        let mut values = Values::default();
        current.visit(&mut values);
        let rate = 1.0 - ema_decay(self.decay, t);
        let mut mapper = Toward { values: values.tensors.into_iter(), rate, path: Vec::new() };
        let average = self.average.map(&mut mapper);
        assert!(mapper.values.next().is_none(), "the average and the model have different parameters");
        Self { average, decay: self.decay }
    }
}

/// Every float tensor of a model (parameters and running statistics), flattened to `[n]`, in
/// visiting order.
#[derive(Default)]
struct Values {
    tensors: Vec<Tensor<1>>,
}

impl ModuleVisitor for Values {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        let n = value.shape().num_elements();
        self.tensors.push(value.reshape([n]));
    }
}

/// Maps an average onto the next one: `avg + (1 − d)·(p − avg)` for parameters, which is
/// `d·avg + (1 − d)·p` and leaves a parameter that does not move (frozen) exactly as it is;
/// the current value itself for running statistics.
struct Toward {
    values: std::vec::IntoIter<Tensor<1>>,
    /// `1 − d`: how far the average moves toward the current value.
    rate: f64,
    /// Field names from the model's root to the tensor being mapped.
    path: Vec<String>,
}

impl ModuleMapper for Toward {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let current = self.values.next().expect("the average and the model have different parameters");
        let running_statistic = self.path.last().is_some_and(|name| name.starts_with("running_"));
        let rate = self.rate;
        param.map(|average| {
            let current: Tensor<D> = current.reshape(average.shape());
            if running_statistic {
                current
            } else {
                average.clone() + (current - average).mul_scalar(rate)
            }
        })
    }
}

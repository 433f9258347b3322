//! Adam with the CPU kernel's one-pass step (`crate::cpu::adam_step`) where the weights are f32
//! on flex, and Burn's Adam elsewhere (WebGPU). Both keep Burn's `AdamState`, so checkpoints
//! and the optimizer state they hold are the same whichever stepped.

use crate::cpu::{self, AdamStep};
use burn::{
    optim::{Adam, AdamConfig, AdamState, AdaptiveMomentumState, LearningRate, Optimizer},
    prelude::*,
};

/// Adam's β₁ and β₂ (Burn's and PyTorch's defaults).
const BETAS: [f32; 2] = [0.9, 0.999];

/// Adam, stepping f32 flex weights in one pass.
#[derive(Clone)]
pub struct FusedAdam {
    epsilon: f32,
    /// What steps everything else.
    burn: Adam,
}

impl FusedAdam {
    pub fn new(epsilon: f32) -> Self {
        let [beta_1, beta_2] = BETAS;
        let burn = AdamConfig::new().with_beta_1(beta_1).with_beta_2(beta_2).with_epsilon(epsilon).build();
        Self { epsilon, burn }
    }
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        if !cpu::adam_runs_here(&tensor, &grad) {
            return self.burn.step(lr, tensor, grad, state);
        }
        let (time, moments) = match state {
            Some(AdamState { momentum }) => (momentum.time + 1, [momentum.moment_1, momentum.moment_2]),
            None => (1, [grad.zeros_like(), grad.zeros_like()]),
        };
        let [beta_1, beta_2] = BETAS;
        let step = AdamStep { lr: lr as f32, beta_1, beta_2, epsilon: self.epsilon, time };
        let (tensor, moment_1, moment_2) = cpu::adam_step(tensor, grad, moments, &step);
        (tensor, Some(AdamState::new(AdaptiveMomentumState::new(time, moment_1, moment_2))))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        Adam::to_device(state, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ops::Range;
    use burn::{
        nn::{Linear, LinearConfig},
        optim::{GradientsParams, ModuleOptimizer},
    };

    /// Steps `steps` of `layer` with `optimizer` on fixed batches.
    fn train(mut optimizer: ModuleOptimizer, mut layer: Linear, steps: Range<usize>, device: &Device) -> (Linear, ModuleOptimizer) {
        for step in steps {
            let values: Vec<f32> = (0..8 * 40).map(|i| ((i * 37 + step * 11) % 29) as f32 / 14.0 - 1.0).collect();
            let x = Tensor::<1>::from_floats(values.as_slice(), device).reshape([8, 40]);
            let loss = layer.forward(x).powi_scalar(2).mean().mul_scalar(step as f64 + 1.0);
            let grads = GradientsParams::from_grads(loss.backward(), &layer);
            layer = optimizer.step(1e-2, layer, grads);
        }
        (layer, optimizer)
    }

    fn assert_same_weights(ours: &Linear, burns: &Linear) {
        let weights = |layer: &Linear| layer.weight.val().into_data().try_to_vec::<f32>().unwrap();
        for (i, (a, b)) in weights(ours).iter().zip(&weights(burns)).enumerate() {
            assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()), "weight {i}: {a} vs {b}");
        }
    }

    /// The one-pass step moves the weights as Burn's Adam does, and its saved state is Burn's:
    /// a checkpoint saved by Burn's Adam resumes in it with the same next step.
    #[test]
    fn matches_burns_adam() {
        let device = Device::flex().autodiff();
        let fused = || ModuleOptimizer::from(FusedAdam::new(1e-8));
        let layer: Linear = LinearConfig::new(40, 300).init(&device);
        let (ours, _) = train(fused(), layer.clone(), 0..4, &device);
        let (burns, burn_optimizer) = train(AdamConfig::new().with_epsilon(1e-8).init(), layer, 0..4, &device);
        assert_same_weights(&ours, &burns);

        let saved = burn_optimizer.into_bytes().unwrap();
        let resumed = fused().from_bytes(saved).expect("Burn's Adam state loads");
        let (ours, _) = train(resumed, burns.clone(), 4..6, &device);
        let (burns, _) = train(burn_optimizer, burns, 4..6, &device);
        assert_same_weights(&ours, &burns);
    }
}

//! Adam with its update fused into one pass over memory on the CPU.
//!
//! burn's Adam updates a parameter with about a dozen tensor operations —
//! each a pass over the parameter with its own allocation — which made
//! Adam the largest elementwise cost of a training step on the CPU
//! (`docs/performance.md`). [`FusedAdam`] computes the same update, in the
//! same order of operations, as one loop that reads p, g, m, v once and
//! writes p', m', v' once (`#[backend_extension(Flex)]`; the optimizer acts
//! on parameters outside the autodiff graph, so there is no backward).
//!
//! Its state is burn's own [`AdamState`], so checkpoints are the same files
//! as before and either optimizer resumes the other's. On other devices
//! (wgpu), and for AMSGrad, it is burn's Adam.

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension};
use burn::optim::{AdamState, AdaptiveMomentumState, LearningRate, Optimizer};
use burn::tensor::{Device, Tensor};

#[backend_extension(Flex)]
pub trait FusedAdamOps: Backend {
    /// One Adam update of `param` with `grad` and the moments `m`, `v` (all
    /// of one shape): `(p', m', v')`. `hyper` is
    /// `[β₁, β₂, ε, weight decay, lr, time]`.
    fn adam_update(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        m: FloatTensor<Self>,
        v: FloatTensor<Self>,
        hyper: [f32; 6],
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

type FlexFloat = <Flex as burn::backend::BackendTypes>::FloatTensorPrimitive;

/// `t` as a tensor whose storage is exactly its values in order (itself
/// when it already is, else a contiguous copy), so it can be updated in place.
fn whole(t: FlexFloat) -> FlexFloat {
    let exact = t.is_contiguous()
        && t.as_slice::<f32>().map(<[f32]>::len) == Some(t.storage::<f32>().len());
    if exact { t } else { t.to_contiguous() }
}

/// Elements per parallel block: small parameters run on one thread.
const BLOCK: usize = 1 << 15;

/// The update of one block in place, in burn's order of operations:
/// m' = β₁m + (1−β₁)g, v' = β₂v + (1−β₂)g²,
/// p' = p − lr·(m'·c)/(√v' + ε·√(1−β₂ᵗ)) with c = √(1−β₂ᵗ)/(1−β₁ᵗ).
#[inline(always)]
fn update_body(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], k: &[f32; 6]) {
    let [b1, b2, factor, wd, lr, eps] = *k;
    let (f1, f2) = (1.0 - b1, 1.0 - b2);
    for i in 0..p.len() {
        let g = if wd != 0.0 { p[i] * wd + g[i] } else { g[i] };
        let m1 = m[i] * b1 + g * f1;
        let v1 = v[i] * b2 + g * g * f2;
        m[i] = m1;
        v[i] = v1;
        p[i] -= (m1 * factor) / (v1.sqrt() + eps) * lr;
    }
}

crate::core::fastmath::widest_simd! {
/// [`update_body`] with the widest vector unit the CPU has.
fn update(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], k: &[f32; 6]) => update_body
}

impl FusedAdamOps for Flex {
    /// In place when the parameter and moments are not shared (the usual
    /// case: burn's copy-on-write copies them otherwise), so a step
    /// allocates nothing.
    fn adam_update(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        m: FloatTensor<Self>,
        v: FloatTensor<Self>,
        hyper: [f32; 6],
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        use rayon::prelude::*;
        let [b1, b2, eps, wd, lr, time] = hyper;
        let t = time as i32;
        let bc2 = (1.0 - b2.powi(t)).sqrt();
        // The constants of `update_body`: [β₁, β₂, c, wd, lr, ε·√(1−β₂ᵗ)].
        let k = [b1, b2, bc2 / (1.0 - b1.powi(t)), wd, lr, eps * bc2];
        let (mut p, grad, mut m, mut v) = (whole(param), whole(grad), whole(m), whole(v));
        {
            let g = grad.storage::<f32>();
            let (ps, ms, vs) = (
                p.storage_mut::<f32>(),
                m.storage_mut::<f32>(),
                v.storage_mut::<f32>(),
            );
            ps.par_chunks_mut(BLOCK)
                .zip(g.par_chunks(BLOCK))
                .zip(ms.par_chunks_mut(BLOCK).zip(vs.par_chunks_mut(BLOCK)))
                .for_each(|((p, g), (m, v))| update(p, g, m, v, &k));
        }
        (p, m, v)
    }
}

/// Adam (Kingma & Ba 2015) exactly as burn's `AdamConfig` computes it, with
/// the update fused on the CPU.
#[derive(Clone)]
pub struct FusedAdam {
    pub beta_1: f32,
    pub beta_2: f32,
    pub epsilon: f32,
    pub weight_decay: f32,
    /// burn's Adam with the same settings, for other devices.
    fallback: burn::optim::Adam,
}

impl FusedAdam {
    pub fn new(beta_1: f32, beta_2: f32, epsilon: f32, weight_decay: f32) -> Self {
        let fallback = burn::optim::AdamConfig::new()
            .with_beta_1(beta_1)
            .with_beta_2(beta_2)
            .with_epsilon(epsilon)
            .with_weight_decay(
                (weight_decay > 0.0)
                    .then(|| burn::optim::decay::WeightDecayConfig::new(weight_decay)),
            )
            .build();
        Self {
            beta_1,
            beta_2,
            epsilon,
            weight_decay,
            fallback,
        }
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
        if !crate::core::fused::on_flex(&tensor)
            || state
                .as_ref()
                .is_some_and(|s| s.momentum.max_moment_2.is_some())
        {
            return self.fallback.step(lr, tensor, grad, state);
        }
        let (m, v, time) = match state {
            Some(s) => (
                s.momentum.moment_1,
                s.momentum.moment_2,
                s.momentum.time + 1,
            ),
            None => (grad.zeros_like(), grad.zeros_like(), 1),
        };
        let hyper = [
            self.beta_1,
            self.beta_2,
            self.epsilon,
            self.weight_decay,
            lr as f32,
            time as f32,
        ];
        let (p, m, v) = <Dispatch as FusedAdamOps>::adam_update(
            tensor.into_dispatch(),
            grad.into_dispatch(),
            m.into_dispatch(),
            v.into_dispatch(),
            hyper,
        );
        let momentum =
            AdaptiveMomentumState::new(time, Tensor::from_dispatch(m), Tensor::from_dispatch(v));
        (Tensor::from_dispatch(p), Some(AdamState::new(momentum)))
    }

    fn to_device<const D: usize>(mut state: Self::State<D>, device: &Device) -> Self::State<D> {
        state.momentum = state.momentum.to_device(device);
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
    use burn::tensor::Distribution;

    type Model = Linear;

    fn start() -> (Model, Tensor<2>, Tensor<2>) {
        let dev = Device::flex().autodiff();
        dev.seed(3);
        let model: Linear = LinearConfig::new(300, 70).init(&dev);
        let x = Tensor::<2>::random([16, 300], Distribution::Normal(0.0, 1.0), &dev);
        let y = Tensor::<2>::random([16, 70], Distribution::Normal(0.0, 1.0), &dev);
        (model, x, y)
    }

    /// `steps` steps of a small regression; every parameter after each step.
    fn run(
        mut model: Model,
        optim: &mut ModuleOptimizer,
        data: &(Tensor<2>, Tensor<2>),
        steps: usize,
    ) -> (Model, Vec<Vec<f32>>) {
        let mut out = Vec::new();
        for _ in 0..steps {
            let loss = (model.forward(data.0.clone()) - data.1.clone())
                .square()
                .mean();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(1e-2, model, grads);
            let mut all = crate::core::host::read(model.weight.val().inner());
            all.extend(crate::core::host::read(
                model.bias.as_ref().unwrap().val().inner(),
            ));
            out.push(all);
        }
        (model, out)
    }

    fn burn_adam(wd: f32) -> ModuleOptimizer {
        AdamConfig::new()
            .with_epsilon(1e-8)
            .with_weight_decay((wd > 0.0).then(|| burn::optim::decay::WeightDecayConfig::new(wd)))
            .init()
    }

    fn assert_same(got: &[Vec<f32>], want: &[Vec<f32>], what: &str) {
        assert_eq!(got.len(), want.len());
        for (step, (g, w)) in got.iter().zip(want).enumerate() {
            let scale = w.iter().fold(0f32, |a, b| a.max(b.abs()));
            for (i, (a, b)) in g.iter().zip(w).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-5 * scale,
                    "{what}, step {step}, parameter {i}: fused {a} vs burn {b}"
                );
            }
        }
    }

    #[test]
    fn fused_adam_equals_burns_adam() {
        for wd in [0.0f32, 0.05] {
            let (m0, x, y) = start();
            let data = (x, y);
            let (_, want) = run(m0.clone(), &mut burn_adam(wd), &data, 12);
            let mut fused = ModuleOptimizer::from(FusedAdam::new(0.9, 0.999, 1e-8, wd));
            let (_, got) = run(m0, &mut fused, &data, 12);
            assert_same(&got, &want, &format!("weight decay {wd}"));
            // The parameters moved: the comparison is not of two no-ops.
            assert!(want[0] != want[11]);
        }
    }

    /// The state is burn's: either optimizer's record, loaded into the
    /// other, continues exactly as six steps of burn's Adam.
    #[test]
    fn fused_and_burn_adam_resume_each_others_records() {
        let fused = || ModuleOptimizer::from(FusedAdam::new(0.9, 0.999, 1e-8, 0.0));
        let (m0, x, y) = start();
        let data = (x, y);
        let (_, want) = run(m0.clone(), &mut burn_adam(0.0), &data, 6);
        for fused_first in [true, false] {
            let (mut first, second) = if fused_first {
                (fused(), burn_adam(0.0))
            } else {
                (burn_adam(0.0), fused())
            };
            let (m3, mut got) = run(m0.clone(), &mut first, &data, 3);
            let mut resumed = second.load_record(first.to_record());
            let (_, rest) = run(m3, &mut resumed, &data, 3);
            got.extend(rest);
            assert_same(&got, &want, &format!("resumed, fused first: {fused_first}"));
        }
    }
}

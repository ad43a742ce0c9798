#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use burn::backend::{Autodiff, NdArray};
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::TensorData;
use exp_trainer::config::MixtralConfig;
use exp_trainer::model::{cross_entropy, load_balancing_loss, Init, Mixtral};
use std::time::Instant;
type B = Autodiff<NdArray<f32>>;
fn main() {
    let config = MixtralConfig::tiny(99574);
    let device = Default::default();
    let mut model: Mixtral<B> = Mixtral::new(&config, Init::Random(&mut Init::seeded(1)), &device);
    let mut optim = AdamWConfig::new().init::<B, Mixtral<B>>();
    let (b, s) = (2, 256);
    let ids = Tensor::<B, 2, Int>::from_data(TensorData::new((0..(b * s) as i64).map(|i| i % 1000).collect::<Vec<_>>(), [b, s]), &device);
    let mask = Tensor::<B, 2>::ones([b, s], &device);
    for _ in 0..3 {
        let t = Instant::now();
        let out = model.forward(&config, ids.clone());
        let t1 = t.elapsed();
        let loss = cross_entropy(out.logits, ids.clone(), mask.clone()) + load_balancing_loss(&out.routing);
        let v: f32 = loss.clone().into_scalar();
        let t2 = t.elapsed();
        let g = loss.backward();
        let t3 = t.elapsed();
        let gp = GradientsParams::from_grads(g, &model);
        model = optim.step(1e-3, model, gp);
        let _ = model.lm_head.weight.val().slice([0..1, 0..1]).into_scalar();
        let t4 = t.elapsed();
        println!("fwd {t1:?} loss {t2:?} bwd {t3:?} opt {t4:?} {v}");
    }
}

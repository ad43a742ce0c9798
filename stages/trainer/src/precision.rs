//! Mixed precision: bf16 compute with fp32 master weights (`precision: bf16`).
//!
//! The optimiser owns fp32 parameters (the masters) and fp32 AdamW moments. Each step the
//! trainer makes a bf16 copy of the masters (same parameter ids, fresh autodiff leaves),
//! runs forward and backward on it, casts its gradients back to fp32 and accumulates,
//! clips and applies them to the masters. An update smaller than half a bf16 step of its
//! weight (2⁻⁹ of it) is kept in the master until the sum crosses a bf16 step; pure bf16
//! parameters would drop it every time.
//!
//! burn 0.21 fixes the float type a device creates tensors in once per process
//! ([`float_policy`]): a bf16 node's device creates bf16 tensors, so the model's own
//! constants (masks, rotary tables) match its bf16 parameters without the model naming a
//! dtype; the masters are cast to fp32 explicitly and every AdamW operation keeps its
//! operands' dtype.
//!
//! burn's ndarray backend (the CPU) stores no bf16. [`Mixed::EmulatedBf16`] runs the same
//! master-weight path there with the copy's values rounded to bf16 and stored in f32, so
//! the CPU tests the path bit for bit; its activations stay f32.

use crate::model::Mixtral;
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{bf16, FloatDType, IntDType, TensorData};

/// How the trainer keeps its parameters and what its forward and backward compute with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mixed {
    /// fp32: the optimiser's parameters are the ones forward and backward use.
    Off,
    /// A bf16 copy of fp32 masters computes each step (a backend that stores bf16: CUDA).
    Bf16,
    /// The same path with the copy rounded to bf16 values kept in f32 (the CPU).
    EmulatedBf16,
}

impl Mixed {
    /// The optimiser's parameters: the model as loaded, cast to fp32 where the copy that
    /// computes is bf16 (on a bf16 device the checkpoint loaded as bf16, so a base stored
    /// in f32 is rounded once here, as Megatron-LM's `--bf16` rounds it).
    pub fn master<B: AutodiffBackend>(self, model: Mixtral<B>) -> Mixtral<B> {
        match self {
            Mixed::Bf16 => model.map(&mut Cast(FloatDType::F32)),
            Mixed::Off | Mixed::EmulatedBf16 => model,
        }
    }

    /// The model this step's forward and backward run on: `None` when it is the masters
    /// themselves. Its parameters keep the masters' ids, so the gradients land on them.
    pub fn compute<B: AutodiffBackend>(self, master: &Mixtral<B>) -> Option<Mixtral<B>> {
        match self {
            Mixed::Off => None,
            Mixed::Bf16 => Some(master.clone().map(&mut Cast(FloatDType::BF16))),
            Mixed::EmulatedBf16 => Some(master.clone().map(&mut RoundToBf16)),
        }
    }

    /// One micro-batch's gradients (of `compute`'s parameters) in the masters' type, so
    /// that they are summed, clipped and applied in fp32.
    pub fn master_grads<B: AutodiffBackend>(self, compute: &Mixtral<B>, mut grads: GradientsParams) -> GradientsParams {
        if self == Mixed::Bf16 {
            compute.visit(&mut CastGrads { grads: &mut grads, dtype: FloatDType::F32 });
        }
        grads
    }

    /// The float type the device must create tensors in for this precision.
    pub fn device_dtype(self) -> FloatDType {
        match self {
            Mixed::Bf16 => FloatDType::BF16,
            Mixed::Off | Mixed::EmulatedBf16 => FloatDType::F32,
        }
    }
}

/// `x` rounded to the nearest bfloat16 (ties to even; NaN stays NaN, overflow gives ±∞),
/// as an f32: what a bf16 store keeps of it.
pub fn round_bf16(x: f32) -> f32 {
    bf16::from_f32(x).to_f32()
}

/// Makes `device` create `dtype` floats (and i32 integers), or says why it cannot: burn
/// 0.21 fixes a device's float type once per process, at its first tensor, so a process
/// that already computed in another type on this device must not go on in it.
pub fn float_policy<B: Backend>(device: &B::Device, dtype: FloatDType) -> Result<(), String> {
    if !B::supports_dtype(device, dtype.into()) {
        return Err(format!("{device:?} has no {dtype:?} tensors"));
    }
    if burn::tensor::set_default_dtypes::<B>(device, dtype, IntDType::I32).is_ok() {
        return Ok(());
    }
    match burn::tensor::get_device_settings::<B>(device).float_dtype {
        now if now == dtype => Ok(()),
        now => Err(format!(
            "{device:?} already computes in {now:?} in this process, and burn fixes a device's float type once per \
             process: run the {dtype:?} nodes in an `exp run` of their own (`--only`)"
        )),
    }
}

/// Every parameter cast to `dtype`, as a fresh autodiff leaf with the same id.
struct Cast(FloatDType);

impl<B: AutodiffBackend> ModuleMapper<B> for Cast {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let dtype = self.0;
        param.map(|t| t.detach().cast(dtype).require_grad())
    }
}

/// Every parameter rounded to bf16 values, kept in its own (f32) type, as a fresh leaf.
struct RoundToBf16;

impl<B: AutodiffBackend> ModuleMapper<B> for RoundToBf16 {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        param.map(|t| {
            let device = t.device();
            let data = t.detach().into_data();
            let shape = data.shape.clone();
            let values: Vec<f32> = data.convert::<f32>().to_vec().expect("float parameters convert to f32");
            let rounded: Vec<f32> = values.into_iter().map(round_bf16).collect();
            Tensor::from_data(TensorData::new(rounded, shape), &device).require_grad()
        })
    }
}

/// Casts the gradient of every parameter the visited module has.
struct CastGrads<'a> {
    grads: &'a mut GradientsParams,
    dtype: FloatDType,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for CastGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.remove::<B::InnerBackend, D>(param.id) {
            self.grads.register::<B::InnerBackend, D>(param.id, g.cast(self.dtype));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_to_the_nearest_bf16_ties_to_even() {
        let step = 2f32.powi(-7); // one bf16 step at 1.0 (7 stored fraction bits)
        assert_eq!(round_bf16(1.0), 1.0);
        // Exactly halfway between 1 and 1 + step: to the even one, 1.
        assert_eq!(round_bf16(1.0 + step / 2.0), 1.0);
        // Halfway between 1 + step (odd) and 1 + 2 step (even): up.
        assert_eq!(round_bf16(1.0 + 1.5 * step), 1.0 + 2.0 * step);
        // Just above halfway: up.
        assert_eq!(round_bf16(1.0 + step / 2.0 + f32::EPSILON), 1.0 + step);
        assert_eq!(round_bf16(-1.0 - 0.75 * step), -1.0 - step);
        assert!(round_bf16(f32::NAN).is_nan());
        assert_eq!(round_bf16(f32::INFINITY), f32::INFINITY);
        assert_eq!(round_bf16(f32::MAX), f32::INFINITY, "f32::MAX is above bf16's largest finite value");
        // bf16 has f32's exponent range: tiny AdamW moments keep their magnitude.
        assert!((round_bf16(1e-30) / 1e-30 - 1.0).abs() < 2f32.powi(-8));
        // Rounding is idempotent: bf16 values are f32 values.
        for x in [0.1f32, 3.3e-5, -7.77e3, 123456.0] {
            assert_eq!(round_bf16(round_bf16(x)), round_bf16(x));
        }
    }

    /// The reason for fp32 masters: 1,000 updates of 10⁻³ to a weight of 1 (each under
    /// half a bf16 step there, 2⁻⁸) add up to 1 in an fp32 master, whose bf16 copy then
    /// reads 2; a bf16 weight rounds every update away and stays at 1.
    #[test]
    fn an_fp32_master_keeps_updates_a_bf16_weight_loses() {
        let (mut master, mut pure) = (1.0f32, 1.0f32);
        for _ in 0..1000 {
            master += 1e-3;
            pure = round_bf16(pure + 1e-3);
        }
        assert_eq!(pure, 1.0);
        assert!((master - 2.0).abs() < 1e-3, "{master}");
        assert_eq!(round_bf16(master), 2.0);
    }

    #[test]
    fn the_cpu_computes_in_f32_only() {
        type B = burn::backend::NdArray<f32>;
        let device = Default::default();
        assert_eq!(float_policy::<B>(&device, FloatDType::F32), Ok(()));
        assert_eq!(float_policy::<B>(&device, FloatDType::F32), Ok(()), "asking twice for the same is fine");
        let refused = float_policy::<B>(&device, FloatDType::BF16).expect_err("ndarray has no bf16");
        assert!(refused.contains("BF16"), "{refused}");
    }
}

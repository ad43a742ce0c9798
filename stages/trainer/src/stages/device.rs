//! Where a stage's tensors live: `cpu` (burn's ndarray backend) everywhere, `cuda` (an
//! NVIDIA GPU through burn-cuda) when exp is built with the `cuda` feature. Each stage
//! writes its work once, generic over the backend, and [`dispatch!`] picks it.

#[cfg(feature = "cuda")]
use exp_stages::StageError;

/// Runs `$body` with `$B` bound to the autodiff backend of a [`Device`] and [`Precision`],
/// `$device` to its device and `$mixed` to the trainer's [`Mixed`](crate::precision::Mixed).
///
/// [`Device`]: exp_stages::kinds::train::Device
/// [`Precision`]: exp_stages::kinds::train::Precision
macro_rules! dispatch {
    ($which:expr, $precision:expr, |$B:ident, $device:ident, $mixed:ident| $body:expr) => {{
        use exp_stages::kinds::train::{Device, Precision};
        match ($which, $precision) {
            (Device::Cuda, precision) => $crate::stages::device::cuda_run!(precision, $B, $device, $mixed, $body),
            (Device::Cpu, Precision::Fp32) => {
                type $B = burn::backend::Autodiff<burn::backend::NdArray<f32>>;
                let $device = burn::backend::ndarray::NdArrayDevice::Cpu;
                let $mixed = $crate::precision::Mixed::Off;
                $body
            }
            // `exp check` refuses this already (a kind rule); a node built by hand gets the same words.
            (device @ Device::Cpu, precision @ Precision::Bf16) => Err(exp_stages::StageError::Param(
                exp_stages::kinds::train::precision_rule(device, precision).unwrap_or_default(),
            )),
        }
    }};
}
pub(crate) use dispatch;

/// CUDA in fp32, or bf16 compute on fp32 masters (`precision.rs`). The device's float
/// type is fixed first: burn 0.21 creates every tensor of a device in one type per process.
#[cfg(feature = "cuda")]
macro_rules! cuda_run {
    ($precision:expr, $B:ident, $device:ident, $mixed:ident, $body:expr) => {{
        $crate::stages::device::cuda_available()?;
        let $device = burn::backend::cuda::CudaDevice::new(0);
        match $precision {
            exp_stages::kinds::train::Precision::Fp32 => {
                type $B = burn::backend::Autodiff<burn::backend::Cuda<f32, i32>>;
                let $mixed = $crate::precision::Mixed::Off;
                $crate::stages::device::policy::<$B>(&$device, $mixed)?;
                $body
            }
            exp_stages::kinds::train::Precision::Bf16 => {
                type $B = burn::backend::Autodiff<burn::backend::Cuda<burn::tensor::bf16, i32>>;
                let $mixed = $crate::precision::Mixed::Bf16;
                $crate::stages::device::policy::<$B>(&$device, $mixed)?;
                $body
            }
        }
    }};
}

#[cfg(not(feature = "cuda"))]
macro_rules! cuda_run {
    ($precision:expr, $B:ident, $device:ident, $mixed:ident, $body:expr) => {{
        let _ = $precision;
        Err(exp_stages::StageError::Param(
            "`device: cuda` needs exp built with the `cuda` feature: cargo build --release --features cuda".into(),
        ))
    }};
}
pub(crate) use cuda_run;

/// Fixes the float type `device` creates tensors in for `mixed`, or says why not.
#[cfg(feature = "cuda")]
pub fn policy<B: burn::prelude::Backend>(device: &B::Device, mixed: crate::precision::Mixed) -> Result<(), StageError> {
    crate::precision::float_policy::<B>(device, mixed.device_dtype()).map_err(StageError::Param)
}

/// burn-cuda panics in a worker thread when the driver library is absent; say so first.
#[cfg(feature = "cuda")]
pub fn cuda_available() -> Result<(), StageError> {
    let listed = std::process::Command::new("ldconfig")
        .arg("-p")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("libcuda.so"))
        .unwrap_or(false);
    if listed || std::path::Path::new("/usr/lib/x86_64-linux-gnu/libcuda.so.1").exists() {
        Ok(())
    } else {
        Err(StageError::Param("`device: cuda`, but this machine has no NVIDIA driver (libcuda.so not found)".into()))
    }
}

/// Peak FLOP/s the model-FLOPs utilisation is measured against: an H100's dense bf16
/// peak on `cuda`; on the CPU, what the backend's own matrix product reaches (measured
/// once per process on 512×512 matrices), since CPUs publish no single peak.
pub fn peak_flops(device: exp_stages::kinds::train::Device) -> f64 {
    if device == exp_stages::kinds::train::Device::Cuda {
        return 989.4e12;
    }
    static CPU: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *CPU.get_or_init(|| {
        use burn::prelude::*;
        type B = burn::backend::NdArray<f32>;
        let device = Default::default();
        let a = Tensor::<B, 2>::ones([512, 512], &device);
        let b = Tensor::<B, 2>::ones([512, 512], &device);
        let mut best = f64::MAX;
        for _ in 0..3 {
            let t = std::time::Instant::now();
            let _: f32 = a.clone().matmul(b.clone()).sum().into_scalar();
            best = best.min(t.elapsed().as_secs_f64());
        }
        2.0 * 512f64.powi(3) / best
    })
}

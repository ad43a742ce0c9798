//! The causal-LM loss as one autodiff operation: the masked mean cross-entropy and its
//! gradient with respect to the logits computed together, in one pass over the
//! `[tokens, vocabulary]` logits, and the backward pass only scales the stored gradient.
//!
//! Why: with a vocabulary of 100k the logits of a micro-batch are hundreds of megabytes,
//! and a loss composed of burn's tensor operations walks them many times (max, subtract,
//! exp, sum, gather, then each of those backwards), each walk a fresh allocation whose
//! pages the kernel zeroes. PyTorch's `cross_entropy` is one kernel; this is ours.
//!
//! burn 0.21 has no cross-entropy primitive and no way to add an operation to a generic
//! backend, so the fused operation is a custom autodiff step (`Backward`) on `Autodiff<I>`,
//! chosen at run time by the concrete backend type: the ndarray CPU backend gets a
//! hand-written row loop that overwrites the logits with the gradient in place; any other
//! backend (CUDA) gets the same formula from its own tensor operations; a backend without
//! autodiff gets the loss alone. [`lm_head_cross_entropy`] goes one step further on the CPU
//! and takes the hidden states and the `lm_head` weight, so that the logits live in a
//! reused buffer and the backward pass multiplies the stored gradient straight into the
//! two matrix gradients.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::{CheckpointStrategy, NoCheckpointing};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ndarray::NdArrayTensor;
use burn::backend::{Autodiff, NdArray};
use burn::prelude::*;
use burn::tensor::{ElementConversion, IndexingUpdateOp, TensorData, TensorPrimitive};
use ndarray::{ArcArray, Array2, ArrayView2, ArrayViewMut2, Ix2, IxDyn};
use std::any::{Any, TypeId};
use std::sync::{Arc, Mutex};

/// The CPU backend, the one with a hand-written kernel.
type Cpu = NdArray<f32>;

/// The masked mean cross-entropy of `targets` under `logits` `[rows, vocab]`, over the
/// rows where `mask` is non-zero (`mask` weights each row; prompt and padding rows are 0).
/// The same value as [`composed_cross_entropy`]; with autodiff, one graph node whose
/// backward is the stored gradient.
pub fn cross_entropy<B: Backend>(logits: Tensor<B, 2>, targets: Tensor<B, 1, Int>, mask: Tensor<B, 1>) -> Tensor<B, 1> {
    if is::<B, Autodiff<Cpu>>() {
        let out = fused::<Cpu, NoCheckpointing>(cast(logits), cast(targets), cast(mask), Kernel::Rows);
        return cast(out);
    }
    if is::<B, Cpu>() {
        let (loss, _) = rows_kernel(cast(logits), &host_targets(targets), &host_floats(mask), false);
        return cast(loss);
    }
    #[cfg(feature = "cuda")]
    {
        type Gpu = burn::backend::Cuda<f32, i32>;
        if is::<B, Autodiff<Gpu>>() {
            let out = fused::<Gpu, NoCheckpointing>(cast(logits), cast(targets), cast(mask), Kernel::Composed);
            return cast(out);
        }
    }
    composed_cross_entropy(logits, targets, mask)
}

/// `cross_entropy(hidden · weightᵀ, targets, mask)`: the loss of a bias-free output layer
/// (`weight` `[vocab, hidden]`, PyTorch's layout). On the CPU with autodiff the logits are
/// written into a buffer reused from step to step (no fresh pages to zero), turned into
/// their gradient in place, and the backward pass multiplies that gradient into the
/// gradients of `hidden` and `weight` directly; elsewhere it is the product followed by
/// [`cross_entropy`].
pub fn lm_head_cross_entropy<B: Backend>(
    hidden: Tensor<B, 2>,
    weight: Tensor<B, 2>,
    targets: Tensor<B, 1, Int>,
    mask: Tensor<B, 1>,
) -> Tensor<B, 1> {
    if is::<B, Autodiff<Cpu>>() {
        return cast(fused_lm_head::<NoCheckpointing>(cast(hidden), cast(weight), cast(targets), cast(mask)));
    }
    cross_entropy(hidden.matmul(weight.transpose()), targets, mask)
}

/// The loss from burn's tensor operations, `logsumexp(logits) − logits[target]` per row:
/// the reference the fused forms are tested against, and what a backend without a fused
/// form computes.
pub fn composed_cross_entropy<B: Backend>(
    logits: Tensor<B, 2>,
    targets: Tensor<B, 1, Int>,
    mask: Tensor<B, 1>,
) -> Tensor<B, 1> {
    let rows = logits.dims()[0];
    let max = logits.clone().max_dim(1).detach();
    // `-max + logits`, not `logits - max`: the backward pass holds `logits`, so an in-place
    // subtraction would first copy all of it; this way the result is simply a new tensor.
    let lse = (max.clone().neg() + logits.clone()).exp().sum_dim(1).log() + max;
    let picked = logits.gather(1, targets.reshape([rows, 1]));
    let count = mask.clone().sum().clamp_min(1.0);
    ((lse - picked).reshape([rows]) * mask).sum() / count
}

/// The fused operation with a chosen kernel, for the tests: `Kernel::Composed` is what a
/// CUDA device runs, here checked on the CPU.
pub fn fused_cross_entropy_with(
    logits: Tensor<Autodiff<Cpu>, 2>,
    targets: Tensor<Autodiff<Cpu>, 1, Int>,
    mask: Tensor<Autodiff<Cpu>, 1>,
    composed: bool,
) -> Tensor<Autodiff<Cpu>, 1> {
    let kernel = if composed { Kernel::Composed } else { Kernel::Rows };
    fused::<Cpu, NoCheckpointing>(logits, targets, mask, kernel)
}

fn is<A: 'static, B: 'static>() -> bool {
    TypeId::of::<A>() == TypeId::of::<B>()
}

/// `t` as the type it is known to be (checked by [`is`] first): a generic function can
/// then call code written for one concrete backend.
fn cast<T: 'static, U: 'static>(t: T) -> U {
    let mut slot = Some(t);
    (&mut slot as &mut dyn Any).downcast_mut::<Option<U>>().and_then(Option::take).expect("the caller checked the type")
}

fn host_targets<B: Backend>(targets: Tensor<B, 1, Int>) -> Vec<i64> {
    targets.into_data().convert::<i64>().to_vec().expect("integer targets")
}

fn host_floats<B: Backend>(t: Tensor<B, 1>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec().expect("a float mask")
}

#[derive(Clone, Copy, Debug)]
enum Kernel {
    /// The hand-written row loop (ndarray only).
    Rows,
    /// The inner backend's own tensor operations.
    Composed,
}

/// The backward step of [`cross_entropy`]: the gradient of the logits was computed with
/// the loss; it is only scaled by the incoming gradient of the loss.
#[derive(Debug)]
struct CrossEntropyBackward;

impl<I: Backend> Backward<I, 1> for CrossEntropyBackward {
    /// The gradient of the loss with respect to the logits.
    type State = I::FloatTensorPrimitive;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let upstream = grads.consume::<I>(&ops.node);
        if let Some(parent) = &ops.parents[0] {
            let factor = scalar::<I>(upstream);
            let gradient = Tensor::<I, 2>::from_primitive(TensorPrimitive::Float(ops.state));
            // The loss is usually scaled by 1 / micro-batches: one in-place pass (the
            // stored gradient is held by nobody else), none at all for a factor of 1.
            let gradient = if factor == 1.0 { gradient } else { gradient.mul_scalar(factor) };
            grads.register::<I>(parent.id, gradient.into_primitive().tensor());
        }
    }
}

fn scalar<I: Backend>(t: I::FloatTensorPrimitive) -> f32 {
    Tensor::<I, 1>::from_primitive(TensorPrimitive::Float(t)).into_scalar().elem::<f32>()
}

fn fused<I: Backend, C: CheckpointStrategy>(
    logits: Tensor<Autodiff<I, C>, 2>,
    targets: Tensor<Autodiff<I, C>, 1, Int>,
    mask: Tensor<Autodiff<I, C>, 1>,
    kernel: Kernel,
) -> Tensor<Autodiff<I, C>, 1> {
    let logits = logits.into_primitive().tensor();
    let inner = Tensor::<I, 2>::from_primitive(TensorPrimitive::Float(logits.primitive));
    let (loss, gradient) = match kernel {
        Kernel::Rows => {
            let (loss, gradient) =
                rows_kernel(cast::<_, Tensor<Cpu, 2>>(inner), &host_targets(targets), &host_floats(mask), true);
            (cast::<_, Tensor<I, 1>>(loss), gradient.map(cast::<_, Tensor<I, 2>>))
        }
        Kernel::Composed => {
            let device = inner.device();
            let targets = Tensor::<I, 1, Int>::from_data(targets.into_data(), &device);
            let mask = Tensor::<I, 1>::from_data(mask.into_data(), &device);
            let (loss, gradient) = composed_loss_and_gradient(inner, targets, mask);
            (loss, Some(gradient))
        }
    };
    let loss = loss.into_primitive().tensor();
    let out = match CrossEntropyBackward.prepare::<C>([logits.node.clone()]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let gradient = gradient.expect("asked for").into_primitive().tensor();
            prep.finish(gradient, loss)
        }
        OpsKind::UnTracked(prep) => prep.finish(loss),
    };
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

/// The loss and the gradient of the logits from tensor operations: what a device without a
/// hand-written kernel runs, still one autodiff node holding one `[rows, vocab]` tensor.
fn composed_loss_and_gradient<I: Backend>(
    logits: Tensor<I, 2>,
    targets: Tensor<I, 1, Int>,
    mask: Tensor<I, 1>,
) -> (Tensor<I, 1>, Tensor<I, 2>) {
    let [rows, vocab] = logits.dims();
    let targets = targets.reshape([rows, 1]);
    let max = logits.clone().max_dim(1);
    let exp = (max.clone().neg() + logits.clone()).exp();
    let sum = exp.clone().sum_dim(1);
    let lse = sum.clone().log() + max;
    let picked = logits.gather(1, targets.clone());
    let weight = (mask.clone() / mask.sum().clamp_min(1.0)).reshape([rows, 1]);
    let loss = ((lse - picked) * weight.clone()).sum();
    let onehot = Tensor::<I, 2>::zeros([rows, vocab], &weight.device()).scatter(
        1,
        targets,
        weight.clone(),
        IndexingUpdateOp::Add,
    );
    let gradient = exp * (weight / sum) - onehot;
    (loss, gradient)
}

/// Logits `[rows, vocab]` on the CPU as a mutable standard-layout array, without a copy when
/// nothing else holds them.
fn cpu_array(t: Tensor<Cpu, 2>) -> ArcArray<f32, IxDyn> {
    let NdArrayTensor::F32(storage) = t.into_primitive().tensor() else {
        panic!("the CPU backend's float tensors are f32");
    };
    let array = storage.into_owned();
    if array.is_standard_layout() {
        array
    } else {
        array.as_standard_layout().into_owned().into_shared()
    }
}

fn cpu_tensor<const D: usize>(array: ArcArray<f32, IxDyn>) -> Tensor<Cpu, D> {
    Tensor::from_primitive(TensorPrimitive::Float(NdArrayTensor::from(array)))
}

/// The row loop on the CPU: the loss, and (when `gradient`) the logits overwritten with the
/// gradient of the loss.
fn rows_kernel(
    logits: Tensor<Cpu, 2>,
    targets: &[i64],
    mask: &[f32],
    gradient: bool,
) -> (Tensor<Cpu, 1>, Option<Tensor<Cpu, 2>>) {
    let device = logits.device();
    let [rows, vocab] = logits.dims();
    let mut array = cpu_array(logits);
    let values = array.as_slice_mut().expect("standard layout");
    let loss = loss_rows(values, rows, vocab, targets, mask, gradient);
    let loss = Tensor::from_data(TensorData::new(vec![loss], [1]), &device);
    (loss, gradient.then(|| cpu_tensor(array)))
}

/// The masked mean cross-entropy of row-major `logits` `[rows, vocab]`, each row's
/// `logsumexp − logit[target]` weighted by `mask[row] / max(Σ mask, 1)`; with `gradient`,
/// `logits` becomes `(softmax − onehot(target)) · weight` row by row.
///
/// Per row: one pass for the maximum, one writing `exp(x − max)` while summing it, one
/// scaling; the row (400 kB at 100k) stays in the core's cache between them. Rows with no
/// weight are skipped (their gradient is zero). Everything is in a fixed order, so the
/// result is the same bits whatever thread runs it.
pub fn loss_rows(logits: &mut [f32], rows: usize, vocab: usize, targets: &[i64], mask: &[f32], gradient: bool) -> f32 {
    assert_eq!(logits.len(), rows * vocab, "logits are [rows, vocab]");
    assert!(targets.len() == rows && mask.len() == rows, "one target and one mask value per row");
    let count = mask.iter().sum::<f32>().max(1.0);
    let mut loss = 0f64;
    for (row, (x, (&target, &m))) in logits.chunks_exact_mut(vocab).zip(targets.iter().zip(mask)).enumerate() {
        let weight = m / count;
        if weight == 0.0 {
            if gradient {
                x.fill(0.0);
            }
            continue;
        }
        let target = usize::try_from(target).ok().filter(|&t| t < vocab);
        let target = target.unwrap_or_else(|| panic!("row {row}: target outside the vocabulary of {vocab}"));
        let picked = x[target];
        let max = row_max(x);
        let sum = if gradient { exp_in_place(x, max) } else { exp_sum(x, max) };
        let lse = max as f64 + sum.ln();
        loss += weight as f64 * (lse - picked as f64);
        if gradient {
            let scale = (weight as f64 / sum) as f32;
            for v in x.iter_mut() {
                *v *= scale;
            }
            x[target] -= weight;
        }
    }
    loss as f32
}

/// Lanes the row loops keep side by side, so the compiler vectorises them.
const LANES: usize = 16;

fn row_max(x: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let mut chunks = x.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (l, &v) in lanes.iter_mut().zip(chunk) {
            *l = l.max(v);
        }
    }
    let tail = chunks.remainder().iter().copied().fold(f32::NEG_INFINITY, f32::max);
    lanes.into_iter().fold(tail, f32::max)
}

/// `x ← exp(x − max)`, returning the sum (lanes in `f32`, flushed to `f64` every few
/// thousand values so 100k terms lose no precision).
fn exp_in_place(x: &mut [f32], max: f32) -> f64 {
    let mut total = 0f64;
    for block in x.chunks_mut(LANES * 256) {
        let mut lanes = [0f32; LANES];
        let mut chunks = block.chunks_exact_mut(LANES);
        for chunk in &mut chunks {
            for (l, v) in lanes.iter_mut().zip(chunk.iter_mut()) {
                *v = exp(*v - max);
                *l += *v;
            }
        }
        for v in chunks.into_remainder() {
            *v = exp(*v - max);
            total += *v as f64;
        }
        total += lanes.iter().map(|&l| l as f64).sum::<f64>();
    }
    total
}

/// `Σ exp(x − max)` without writing (the loss alone).
fn exp_sum(x: &[f32], max: f32) -> f64 {
    let mut total = 0f64;
    for block in x.chunks(LANES * 256) {
        let mut lanes = [0f32; LANES];
        let mut chunks = block.chunks_exact(LANES);
        for chunk in &mut chunks {
            for (l, &v) in lanes.iter_mut().zip(chunk) {
                *l += exp(v - max);
            }
        }
        total += chunks.remainder().iter().map(|&v| exp(v - max) as f64).sum::<f64>();
        total += lanes.iter().map(|&l| l as f64).sum::<f64>();
    }
    total
}

/// `eˣ` for `x ≤ 0` (a logit minus its row's maximum), within 2 ulp of the exact value,
/// in operations the compiler vectorises (the C library's `expf` is a call per value):
/// Cephes' range reduction `x = n·ln 2 + r`, a degree-6 polynomial for `eʳ`, `2ⁿ` built
/// in the exponent bits. Below −87 the result is 0 (the true value is under `f32`'s
/// smallest normal number).
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // Adding 1.5 · 2²³ rounds to an integer held in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let clamped = x.max(-87.0);
    let shifted = clamped * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = clamped - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_2e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let er = p * r * r + r + 1.0;
    // n ∈ [-126, 0]: 2ⁿ is a normal number.
    let exponent = (shifted.to_bits() as i32 - ROUND.to_bits() as i32 + 127) as u32;
    let value = er * f32::from_bits(exponent << 23);
    if x < -87.0 {
        0.0
    } else {
        value
    }
}

/// Logit buffers reused across steps: a `[tokens, vocab]` buffer is hundreds of megabytes,
/// and a fresh one costs the kernel zeroing every page of it. One per thread computing a
/// micro-batch at a time; handed back after the backward pass.
static BUFFERS: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());

fn take_buffer(len: usize) -> Vec<f32> {
    let reused = {
        let mut pool = BUFFERS.lock().expect("not poisoned");
        // The largest one, so a smaller request never forces a second large allocation.
        let best = (0..pool.len()).max_by_key(|&i| pool[i].capacity());
        best.map(|i| pool.swap_remove(i))
    };
    let mut buffer = reused.unwrap_or_default();
    // Growing writes only the new part; every value is overwritten before it is read.
    buffer.resize(len, 0.0);
    buffer.truncate(len);
    buffer
}

fn give_back(buffer: Vec<f32>) {
    BUFFERS.lock().expect("not poisoned").push(buffer);
}

/// Frees the reused logit buffers (the trainer calls it when a run ends).
pub fn release_buffers() {
    BUFFERS.lock().expect("not poisoned").clear();
}

/// What the backward pass of [`lm_head_cross_entropy`] keeps: the gradient of the logits
/// (the reused buffer), the inputs of the product and which of them want a gradient.
#[derive(Clone, Debug)]
struct LmHeadState {
    gradient: Arc<Vec<f32>>,
    hidden: NdArrayTensor,
    weight: NdArrayTensor,
}

#[derive(Debug)]
struct LmHeadBackward;

impl Backward<Cpu, 2> for LmHeadBackward {
    type State = LmHeadState;

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let upstream = grads.consume::<Cpu>(&ops.node);
        let factor = scalar::<Cpu>(upstream);
        let LmHeadState { gradient, hidden, weight } = ops.state;
        let hidden = ndarray2(&hidden);
        let weight = ndarray2(&weight);
        let (rows, vocab) = (hidden.nrows(), weight.nrows());
        let g = ArrayView2::from_shape((rows, vocab), &gradient[..]).expect("[rows, vocab]");
        let [hidden_node, weight_node] = ops.parents;
        if let Some(node) = hidden_node {
            // d hidden = factor · G · W
            let mut out = Array2::<f32>::zeros((rows, weight.ncols()));
            ndarray::linalg::general_mat_mul(factor, &g, &weight, 0.0, &mut out);
            grads.register::<Cpu>(node.id, NdArrayTensor::from(out.into_dyn().into_shared()));
        }
        if let Some(node) = weight_node {
            // d W = factor · Gᵀ · hidden, in W's own `[vocab, hidden]` layout.
            let mut out = Array2::<f32>::zeros((vocab, hidden.ncols()));
            ndarray::linalg::general_mat_mul(factor, &g.t(), &hidden, 0.0, &mut out);
            grads.register::<Cpu>(node.id, NdArrayTensor::from(out.into_dyn().into_shared()));
        }
        if let Ok(buffer) = Arc::try_unwrap(gradient) {
            give_back(buffer);
        }
    }
}

fn ndarray2(t: &NdArrayTensor) -> ArrayView2<'_, f32> {
    let NdArrayTensor::F32(storage) = t else {
        panic!("the CPU backend's float tensors are f32");
    };
    storage.view().into_dimensionality::<Ix2>().expect("a matrix")
}

fn fused_lm_head<C: CheckpointStrategy>(
    hidden: Tensor<Autodiff<Cpu, C>, 2>,
    weight: Tensor<Autodiff<Cpu, C>, 2>,
    targets: Tensor<Autodiff<Cpu, C>, 1, Int>,
    mask: Tensor<Autodiff<Cpu, C>, 1>,
) -> Tensor<Autodiff<Cpu, C>, 1> {
    let device = hidden.device();
    let [rows, _] = hidden.dims();
    let [vocab, _] = weight.dims();
    let (targets, mask) = (host_targets(targets), host_floats(mask));
    let hidden = hidden.into_primitive().tensor();
    let weight = weight.into_primitive().tensor();
    let mut buffer = take_buffer(rows * vocab);
    {
        let h = ndarray2(&hidden.primitive);
        let w = ndarray2(&weight.primitive);
        let mut logits = ArrayViewMut2::from_shape((rows, vocab), &mut buffer[..]).expect("[rows, vocab]");
        ndarray::linalg::general_mat_mul(1.0, &h, &w.t(), 0.0, &mut logits);
    }
    let prep = LmHeadBackward.prepare::<C>([hidden.node.clone(), weight.node.clone()]).compute_bound().stateful();
    let tracked = matches!(prep, OpsKind::Tracked(_));
    let loss = loss_rows(&mut buffer, rows, vocab, &targets, &mask, tracked);
    let loss: Tensor<Cpu, 1> = Tensor::from_data(TensorData::new(vec![loss], [1]), &device);
    let loss = loss.into_primitive().tensor();
    let out = match prep {
        OpsKind::Tracked(prep) => {
            let state = LmHeadState { gradient: Arc::new(buffer), hidden: hidden.primitive, weight: weight.primitive };
            prep.finish(state, loss)
        }
        OpsKind::UnTracked(prep) => {
            give_back(buffer);
            prep.finish(loss)
        }
    };
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

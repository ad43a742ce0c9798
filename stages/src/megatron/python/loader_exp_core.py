"""exp's Megatron-core loader for Megatron-LM's checkpoint converter (``--loader exp_core``).

Megatron-LM core_v0.16.1's own core loader (``tools/checkpoint/loader_core.py``) made to work
on MoE checkpoints; argument parsing, model building and checkpoint loading stay Megatron's own
(subclassed, not copied). At the tag the core loader, on a MoE checkpoint:

* loads only expert-parallel rank 0: ``load_model_shards`` (loader_base.py:179-244) loops over
  pipeline and tensor ranks only, so experts held by EP ranks > 0 are never read;
* raises KeyError at loader_base.py:311 (``layer_p["mlp_fc1_weight"]``): CoreMoETESchema has
  only per-expert keys ``mlp_fc1_weight.<j>``;
* never sends "router weight".

Overrides:

``load_model_shards``   for a MoE model, runs Megatron's own ``load_model_shards`` once per
                        expert-parallel rank, with that rank set in ``mpu`` (the checkpoint file
                        name, ``mp_rank_TT[_PPP]_EEE``) and in the converter's fake EP group (the
                        model's global expert offset); keeps all of them in ``self.models_by_ep``
                        ([ep][pp][vp][tp]) and returns EP rank 0's, as the base does.
``build_checkpoint_metadata``  adds ``num_experts`` (``saver_base.build_sys_argv`` reads it for
                        ``--num-experts``) and ``previous_expert_parallel_size``.
``send_model_over_queue``  for a MoE model sends the layers with ``send_moe_llm_over_queue``
                        (below) and one "done"; other models go to Megatron's own code unchanged.

Messages per MoE layer (what ``saver_exp_hf`` and Megatron's ``saver_base`` consume):

    "input norm weight" [H], "post norm weight" [H]          (TP 0, EP 0: replicated)
    "qkv weight"  TP shards concatenated on dim 0           (per-group layout is kept)
    "dense weight" TP shards concatenated on dim 1
    "router weight" [E, H]                                  (TP 0, EP 0: replicated)
    "mlp l0 weight W" / "mlp l0 weight V" [E, F, H]          each TP shard of fc1 is [W_t; V_t]
                                                             (SwiGLU), split in two, the halves
                                                             joined over TP
    "mlp l1 weight" [E, H, F]                                fc2 TP shards joined on dim 1
    (non-SwiGLU: "mlp l0 weight" [E, F, H]; qkv bias / norm biases when the metadata says so)

Experts are stacked in global order ``ep_rank * local_experts + j``.
"""

import loader_core
import torch
from loader_core import MegatronCheckpointLoaderLLM
from schema_core import get_model_schema


def add_arguments(parser):
    loader_core.add_arguments(parser)


def _cat(parts, dim):
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=dim)


def _warn_if_differs(what, ref, other, where):
    if ref is not None and other is not None and not torch.equal(ref, other):
        print(f"loader_exp_core: warning: {what}: the copy on {where} differs from the one "
              f"sent (max abs diff {(ref.float() - other.float()).abs().max().item():.3g})",
              flush=True)


def gather_moe_layer(schema, ranks, layer_idx, num_local_experts, swiglu=True, qkv_bias=False,
                     norm_has_bias=False, linear_bias=False, ffn_hidden_size=None):
    """One transformer layer's message from its shards.

    ``ranks[ep][tp]`` are the models of one pipeline stage (and virtual stage), ``schema`` a
    CoreMoETESchema. Whether the experts are split over the TP ranks is read from the shards'
    shapes, not from the arguments: the converter's fake process groups make the experts'
    tensor-parallel size the TP size whatever ``expert_tensor_parallel_size`` says
    (parallel_state.get_expert_tensor_parallel_world_size falls back to the TP size). With
    ``ffn_hidden_size`` (the expert width) given, fc2 shards of that full width mean "not
    split" (TP rank 0's are sent, the others must be equal); 1/TP of it means "split".
    """
    if linear_bias:
        raise NotImplementedError("loader_exp_core: MoE with linear biases: CoreMoETESchema "
                                  "has no expert bias keys")
    tp_size = len(ranks[0])
    params = [[schema.get_layer(m, layer_idx) for m in tp_models] for tp_models in ranks]
    p00 = params[0][0]

    msg = {
        "input norm weight": p00["self_attn_norm_weight"],
        "post norm weight": p00["mlp_norm_weight"],
    }
    if norm_has_bias:
        msg["input norm bias"] = p00["self_attn_norm_bias"]
        msg["post norm bias"] = p00["mlp_norm_bias"]
    msg["qkv weight"] = _cat([p["self_attn_qkv_weight"] for p in params[0]], 0)
    if qkv_bias:
        msg["qkv bias"] = _cat([p["self_attn_qkv_bias"] for p in params[0]], 0)
    msg["dense weight"] = _cat([p["self_attn_proj_weight"] for p in params[0]], 1)
    msg["router weight"] = p00["router_weight"]
    for ep_rank in range(1, len(params)):
        for key in ("router_weight", "self_attn_qkv_weight", "mlp_norm_weight"):
            _warn_if_differs(f"layer {layer_idx} {key}", p00[key], params[ep_rank][0][key],
                             f"EP rank {ep_rank}")

    w, v, l0, l1 = [], [], [], []
    for ep_rank, ep_params in enumerate(params):
        for j in range(num_local_experts):
            fc1 = [p[f"mlp_fc1_weight.{j}"] for p in ep_params]
            fc2 = [p[f"mlp_fc2_weight.{j}"] for p in ep_params]
            if any(t is None for t in fc1 + fc2):
                raise KeyError(f"loader_exp_core: layer {layer_idx}: local expert {j} missing "
                               "(is the checkpoint's expert layout SequentialMLP? "
                               "--moe-grouped-gemm checkpoints use other names)")
            width = fc2[0].shape[1]
            if tp_size > 1 and ffn_hidden_size is not None and width == ffn_hidden_size:
                for t in range(1, tp_size):  # experts whole on every TP rank
                    _warn_if_differs(f"layer {layer_idx} expert {j} fc1", fc1[0], fc1[t],
                                     f"TP rank {t} (EP rank {ep_rank})")
                fc1, fc2 = fc1[:1], fc2[:1]
            elif ffn_hidden_size is not None and width * tp_size != ffn_hidden_size:
                raise ValueError(f"loader_exp_core: layer {layer_idx}: expert fc2 shard width "
                                 f"{width} x TP {tp_size} != expert ffn size {ffn_hidden_size}")
            if swiglu:
                halves = [torch.chunk(t, 2, dim=0) for t in fc1]
                w.append(_cat([h[0] for h in halves], 0))
                v.append(_cat([h[1] for h in halves], 0))
            else:
                l0.append(_cat(fc1, 0))
            l1.append(_cat(fc2, 1))
    if swiglu:
        msg["mlp l0 weight W"] = torch.stack(w)
        msg["mlp l0 weight V"] = torch.stack(v)
    else:
        msg["mlp l0 weight"] = torch.stack(l0)
    msg["mlp l1 weight"] = torch.stack(l1)
    return msg


class MegatronCheckpointLoaderExpCore(MegatronCheckpointLoaderLLM):

    models_by_ep = None  # [ep][pp][vp][tp], set by load_model_shards for MoE models

    def _is_moe(self):
        return bool(getattr(self.margs, "num_experts", None))

    def build_checkpoint_metadata(self, true_vocab_size):
        md = super().build_checkpoint_metadata(true_vocab_size)
        md.num_experts = self.margs.num_experts
        md.previous_expert_parallel_size = self.margs.expert_model_parallel_size
        return md

    def load_model_shards(self, model_provider, dtype):
        if not self._is_moe():
            return super().load_model_shards(model_provider, dtype)
        from megatron.core import mpu

        by_ep, counters = [], None
        for ep_rank in range(self.margs.expert_model_parallel_size):
            mpu.set_expert_model_parallel_rank(ep_rank)           # checkpoint file name
            mpu.get_expert_model_parallel_group().set_rank(ep_rank)  # global expert offset
            models, train, valid = super().load_model_shards(model_provider, dtype)
            if counters is not None and counters != (train, valid):
                raise RuntimeError(f"loader_exp_core: EP rank {ep_rank} has consumed samples "
                                   f"{(train, valid)}, EP rank 0 {counters}")
            counters = (train, valid)
            by_ep.append(models)
        mpu.set_expert_model_parallel_rank(0)
        mpu.get_expert_model_parallel_group().set_rank(0)
        self.models_by_ep = by_ep
        return by_ep[0], counters[0], counters[1]

    def send_model_over_queue(self):
        if not self._is_moe():
            return super().send_model_over_queue()
        self.send_metadata_over_queue()
        schema = get_model_schema(
            self.md.model_type,
            self.margs.transformer_impl,
            self.margs.num_experts,
            self.margs.expert_model_parallel_size,
        )
        self.send_moe_llm_over_queue(schema)
        self.queue.put("done")

    def send_moe_llm_over_queue(self, schema):
        if self.md.model_type != "GPT":
            raise NotImplementedError("loader_exp_core: MoE is supported for GPT only")
        ep_size = self.margs.expert_model_parallel_size
        pp_size = self.margs.pipeline_model_parallel_size
        vp_size = self.margs.virtual_pipeline_model_parallel_size or 1
        by_ep = self.models_by_ep
        if by_ep is None or len(by_ep) != ep_size:
            raise RuntimeError("loader_exp_core: models of all expert-parallel ranks are needed")
        num_local = self.margs.num_experts // ep_size
        ffn = (getattr(self.margs, "moe_ffn_hidden_size", None)
               or getattr(self.margs, "ffn_hidden_size", None))

        first = by_ep[0][0][0]
        emb = [schema.get("embeddings", m) for m in first]
        msg = {"word embeddings": _cat([e["word"] for e in emb], 0)}
        if self.md.position_embedding_type == "learned_absolute":
            msg["position embeddings"] = emb[0]["pos"]
        elif emb[0]["pos"] is not None:
            raise RuntimeError("loader_exp_core: model has position embeddings but the "
                               "position embedding type is " + str(self.md.position_embedding_type))
        self.queue_put("embeddings", msg)

        n = 0
        for vp_rank in range(vp_size):
            for pp_rank in range(pp_size):
                ranks = [by_ep[e][pp_rank][vp_rank] for e in range(ep_size)]
                for layer_idx in range(schema.get_num_layers(ranks[0][0])):
                    msg = gather_moe_layer(schema, ranks, layer_idx, num_local,
                                           swiglu=self.md.swiglu, qkv_bias=self.md.qkv_bias,
                                           norm_has_bias=self.md.norm_has_bias,
                                           linear_bias=self.md.linear_bias, ffn_hidden_size=ffn)
                    self.queue_put(f"transformer layer {n}", msg)
                    n += 1

        last = by_ep[0][pp_size - 1][vp_size - 1]
        norm = schema.get("final_norm", last[0])
        msg = {"weight": norm["weight"]}
        if self.md.norm_has_bias:
            msg["bias"] = norm["bias"]
        self.queue_put("final norm", msg)
        if self.md.output_layer:
            out = [schema.get("output_layer", m)["weight"] for m in last]
            self.queue_put("output layer", {"weight": _cat(out, 0)})


def load_checkpoint(queue, args):
    """Entry point convert.py calls in the loader process; sends "exit" on failure."""
    loader = MegatronCheckpointLoaderExpCore(args, queue)
    try:
        loader.load()
    except Exception:
        queue.put("exit")
        raise

"""exp's Megatron-core saver for Megatron-LM's checkpoint converter (``--saver exp_core``).

Megatron-LM core_v0.16.1's own core saver (``tools/checkpoint/saver_core.py``) with two fixes
for MoE models, everything else Megatron's own code (subclassed, not copied):

1. ``qkv_bias`` missing from the loader's metadata. ``loader_mixtral_hf`` builds its metadata
   without ``qkv_bias``; ``saver_base.receive_lm`` reads ``self.md.qkv_bias``
   (saver_base.py:452) and raises AttributeError. ``receive_checkpoint_metadata`` below fills it
   in when absent, with Megatron's own rule for whether ``linear_qkv`` has a bias
   (``add_bias_linear or add_qkv_bias``: ``md.linear_bias`` or the checkpoint's
   ``add_qkv_bias``; False for Mixtral). Loaders that send it are left alone.

2. Expert weights silently not saved. For a MoE model ``receive_lm`` puts the stacked
   per-rank expert tensors under ``mlp_fc1_weight`` / ``mlp_fc2_weight`` (saver_base.py:474-476),
   shape ``[local_experts, out, in]``, but ``CoreMoETESchema`` only knows per-expert keys
   ``mlp_fc1_weight.<j>`` / ``mlp_fc2_weight.<j>`` (schema_core.py:123-124), and
   ``ModelSchema._set`` skips keys it does not know: every expert is saved with its
   uninitialised values, without an error (NVIDIA/Megatron-LM issue #5844, fixed upstream by
   PR #5845 after this tag). ``receive_model`` below wraps the schema in ``PerExpertSchema``,
   whose ``set_layer`` splits each stacked tensor into the per-expert keys and raises if a
   non-None parameter still has no schema key (so nothing can be dropped silently again).

With this file's directory on ``PYTHONPATH`` the converter loads it as ``--saver exp_core``; it
takes the same options as ``--saver core``.
"""

import saver_core
from saver_core import MegatronCheckpointSaverLLM
from schema_core import get_model_schema

# Stacked [local_experts, ...] entries saver_base.receive_lm puts into a MoE layer's params.
STACKED_EXPERT_KEYS = ("mlp_fc1_weight", "mlp_fc2_weight", "mlp_fc1_bias", "mlp_fc2_bias")


def add_arguments(parser):
    saver_core.add_arguments(parser)


def default_qkv_bias(md):
    """Whether linear_qkv has a bias, by Megatron's rule (add_bias_linear or add_qkv_bias)."""
    ca = getattr(md, "checkpoint_args", None)
    return bool(getattr(md, "linear_bias", False) or getattr(ca, "add_qkv_bias", False))


def split_expert_params(params, num_local_experts):
    """Returns a copy of a layer's params with each stacked expert tensor ``k`` ([local, ...])
    replaced by ``k.0`` .. ``k.<local-1>``, the keys of CoreMoETESchema."""
    out = dict(params)
    for key in STACKED_EXPERT_KEYS:
        if key not in out:
            continue
        stacked = out.pop(key)
        if stacked is None:
            continue
        if stacked.dim() < 2 or stacked.shape[0] != num_local_experts:
            raise ValueError(f"saver_exp_core: {key} has shape {tuple(stacked.shape)}; expected "
                             f"[{num_local_experts} local experts, ...]")
        for j in range(num_local_experts):
            out[f"{key}.{j}"] = stacked[j]
    return out


class PerExpertSchema:
    """Wraps a CoreMoETESchema; only ``set_layer`` differs (see the module docstring, fix 2)."""

    def __init__(self, schema, num_local_experts):
        self._schema = schema
        self.num_local_experts = num_local_experts

    def __getitem__(self, key):
        return self._schema[key]

    def __getattr__(self, name):
        return getattr(self._schema, name)

    def set_layer(self, model, layer_idx, params):
        params = split_expert_params(params, self.num_local_experts)
        known = self._schema["layer"]
        unknown = sorted(k for k, v in params.items() if v is not None and k not in known)
        if unknown:
            raise KeyError(f"saver_exp_core: layer {layer_idx}: parameters {unknown} have no key "
                           "in the MoE schema and would not be saved (expert biases are not "
                           "supported by Megatron's CoreMoETESchema)")
        self._schema.set_layer(model, layer_idx, params)


class MegatronCheckpointSaverExpCore(MegatronCheckpointSaverLLM):

    def receive_checkpoint_metadata(self):
        # Fix 1: saver_base.py:452 reads md.qkv_bias, which loader_mixtral_hf never sets.
        super().receive_checkpoint_metadata()
        if getattr(self.md, "qkv_bias", None) is None:
            self.md.qkv_bias = default_qkv_bias(self.md)
            print(f"saver_exp_core: loader sent no qkv_bias; using {self.md.qkv_bias}", flush=True)

    def receive_model(self):
        # Same schema as saver_core.receive_model; fix 2: per-expert keys for MoE models.
        schema = get_model_schema(
            self.md.model_type,
            self.margs.transformer_impl,
            self.margs.num_experts,
            self.margs.expert_model_parallel_size,
        )
        if self.margs.num_experts:
            ep = self.args.target_expert_parallel_size
            if self.margs.num_experts % ep:
                raise ValueError(f"saver_exp_core: {self.margs.num_experts} experts do not split "
                                 f"over expert-parallel size {ep}")
            schema = PerExpertSchema(schema, self.margs.num_experts // ep)
        self.receive_lm(schema)


def save_checkpoint(queue, args):
    """Entry point convert.py calls in the saver process."""
    MegatronCheckpointSaverExpCore(args, queue).save()

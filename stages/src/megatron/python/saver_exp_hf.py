"""exp's saver plugin for Megatron-LM's checkpoint converter: writes a Hugging Face Mixtral folder.

Megatron-LM's ``tools/checkpoint/convert.py`` imports ``saver_<name>`` from ``sys.path``, so with
this file's directory on ``PYTHONPATH`` the converter accepts ``--saver exp_hf``. The loader
(``--loader core`` for a trained Megatron checkpoint, or ``--loader mixtral_hf`` for a self-check)
sends the full, un-split model over a multiprocessing queue; this saver turns those messages into

    <save-dir>/config.json          MixtralForCausalLM, transformers 4.x dialect
                                    (top-level ``rope_theta`` and ``torch_dtype``)
    <save-dir>/model.safetensors    Hugging Face parameter names (or shards + index, see
                                    ``--hf-max-shard-size``)

Messages consumed, in order (names and keys as the converter's loaders send them):

    metadata             a namespace: num_layers, hidden_size, num_attention_heads,
                         max_position_embeddings, params_dtype, true_vocab_size, output_layer,
                         position_embedding_type, swiglu, linear_bias, norm_has_bias, qkv_bias
                         (optional), num_experts (optional) and checkpoint_args (Megatron's args:
                         num_query_groups, group_query_attention, kv_channels, ffn_hidden_size,
                         moe_ffn_hidden_size, num_experts, moe_router_topk, norm_epsilon,
                         rotary_base, ...)
    "embeddings"         "word embeddings" [padded_vocab, hidden]
    "transformer layer N" for N = 0 .. num_layers-1:
                         "input norm weight" [hidden]
                         "post norm weight"  [hidden]
                         "qkv weight"        [groups*(q_per_group+2)*head_dim, hidden]
                         "dense weight"      [hidden, heads*head_dim]
                         "router weight"     [experts, hidden]
                         "mlp l0 weight W"   [experts, ffn, hidden]   (gate, HF w1)
                         "mlp l0 weight V"   [experts, ffn, hidden]   (up,   HF w3)
                         "mlp l1 weight"     [experts, hidden, ffn]   (down, HF w2)
    "final norm"         "weight" [hidden]
    "output layer"       "weight" [padded_vocab, hidden]   (only when metadata.output_layer)
    "done"
    "exit" at any point means the loader failed; the saver then exits with status 1.

The fused QKV weight is laid out per query group: the rows of group g are
``[q heads of g (q_per_group*head_dim rows), k of g (head_dim rows), v of g (head_dim rows)]``.
Concatenating tensor-parallel shards along dim 0 keeps that layout (each rank owns whole groups),
so un-fusing does not depend on the source TP size.
"""

import json
import os
import shutil
import sys

import torch

_DTYPES = {
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
    "float32": torch.float32,
}

# Files copied from --hf-source (when it is a folder) with --hf-copy-aux-files.
_AUX_FILES = (
    "generation_config.json",
    "tokenizer.json",
    "tokenizer.model",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.jinja",
)


def add_arguments(parser):
    group = parser.add_argument_group(title="exp Hugging Face Mixtral saver")
    group.add_argument(
        "--hf-source",
        "--hf-config",
        dest="hf_source",
        type=str,
        default=None,
        help="config.json (or the folder holding it) of the Hugging Face model training started "
        "from; supplies what Megatron's metadata lacks: bos/eos token ids, sliding_window, "
        "router_aux_loss_coef, initializer_range, and fallbacks for rope_theta, rms_norm_eps, "
        "num_experts_per_tok and vocab_size. Either config dialect (4.x rope_theta or 5.x "
        "rope_parameters) is read.",
    )
    group.add_argument(
        "--hf-dtype",
        type=str,
        default=None,
        choices=sorted(_DTYPES),
        help="dtype of the written tensors and config torch_dtype; default: the checkpoint's "
        "params_dtype.",
    )
    group.add_argument("--hf-rope-theta", type=float, default=None,
                       help="override rope_theta (default: Megatron's rotary_base).")
    group.add_argument("--hf-rms-norm-eps", type=float, default=None,
                       help="override rms_norm_eps (default: Megatron's norm_epsilon).")
    group.add_argument("--hf-num-experts-per-tok", type=int, default=None,
                       help="override num_experts_per_tok (default: Megatron's moe_router_topk).")
    group.add_argument("--hf-vocab-size", type=int, default=None,
                       help="vocabulary size to trim the padded embedding/output tables to "
                       "(default: the loader's true_vocab_size, else --hf-source's vocab_size).")
    group.add_argument("--hf-max-shard-size", type=str, default=None,
                       help="write model-0000i-of-0000n.safetensors shards of at most this size "
                       "(e.g. 5GB) plus model.safetensors.index.json; default: one model.safetensors.")
    group.add_argument("--hf-copy-aux-files", action="store_true",
                       help="copy tokenizer and generation_config files from the --hf-source folder.")


def _fail(msg):
    print(f"saver_exp_hf: error: {msg}", flush=True)
    sys.exit(1)


def _parse_size(text):
    text = text.strip().upper()
    for suffix, mult in (("GIB", 2**30), ("MIB", 2**20), ("KIB", 2**10),
                         ("GB", 10**9), ("MB", 10**6), ("KB", 10**3), ("B", 1)):
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * mult)
    return int(text)


def _read_source_config(path):
    if path is None:
        return {}, None
    if os.path.isdir(path):
        folder, path = path, os.path.join(path, "config.json")
    else:
        folder = os.path.dirname(path)
    with open(path) as f:
        cfg = json.load(f)
    # 5.x dialect keeps rope_theta inside rope_parameters.
    rope = cfg.get("rope_parameters") or {}
    if cfg.get("rope_theta") is None and isinstance(rope, dict) and "rope_theta" in rope:
        cfg["rope_theta"] = rope["rope_theta"]
    if isinstance(rope, dict) and rope.get("rope_type", "default") != "default":
        _fail(f"source rope_parameters {rope} are not plain RoPE; not supported")
    return cfg, folder


class _Receiver:
    def __init__(self, queue, checking):
        self.queue = queue
        self.checking = checking

    def get(self, name=None):
        val = self.queue.get()
        if isinstance(val, str) and val == "exit":
            print("saver_exp_hf: loader exited, exiting saver", flush=True)
            sys.exit(1)
        if name is not None:
            got = val.get("name") if isinstance(val, dict) else val
            if got != name:
                _fail(f'expected message "{name}", got "{got}"')
            print(f"saver_exp_hf: received {name}", flush=True)
        return val

    def done_with(self, msg):
        name = msg.pop("name", None)
        if msg and self.checking:
            _fail(f"unexpected keys in message {name!r}: {sorted(msg)} (use --no-checking to ignore)")


def _pick(label, override, megatron, source, default=None, warn_on_mismatch=True):
    """Precedence: explicit override > Megatron checkpoint args > source config > default."""
    if override is not None:
        return override
    if megatron is not None:
        if warn_on_mismatch and source is not None and source != megatron:
            print(f"saver_exp_hf: warning: {label}: checkpoint has {megatron}, source config has "
                  f"{source}; writing the checkpoint's value", flush=True)
        return megatron
    if source is not None:
        return source
    return default


def _unfuse_qkv(qkv, num_heads, num_groups, head_dim, hidden):
    q_per_group = num_heads // num_groups
    expected = num_groups * (q_per_group + 2) * head_dim
    if tuple(qkv.shape) != (expected, hidden):
        _fail(f"qkv weight has shape {tuple(qkv.shape)}, expected ({expected}, {hidden})")
    grouped = qkv.reshape(num_groups, q_per_group + 2, head_dim, hidden)
    q = grouped[:, :q_per_group].reshape(num_heads * head_dim, hidden)
    k = grouped[:, q_per_group].reshape(num_groups * head_dim, hidden)
    v = grouped[:, q_per_group + 1].reshape(num_groups * head_dim, hidden)
    return q, k, v


def _trim_vocab(table, vocab_size, what):
    if vocab_size is None:
        return table
    if table.shape[0] < vocab_size:
        _fail(f"{what} has {table.shape[0]} rows, fewer than vocab_size {vocab_size}")
    return table[:vocab_size]


def _write_safetensors(tensors, save_dir, max_shard_size):
    from safetensors.torch import save_file

    meta = {"format": "pt"}
    if max_shard_size is None:
        save_file(tensors, os.path.join(save_dir, "model.safetensors"), metadata=meta)
        return ["model.safetensors"]
    limit = _parse_size(max_shard_size)
    shards, current, size = [], {}, 0
    for name, t in tensors.items():
        nbytes = t.numel() * t.element_size()
        if current and size + nbytes > limit:
            shards.append(current)
            current, size = {}, 0
        current[name] = t
        size += nbytes
    if current:
        shards.append(current)
    n = len(shards)
    weight_map, files = {}, []
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    for i, shard in enumerate(shards, 1):
        fname = f"model-{i:05d}-of-{n:05d}.safetensors"
        save_file(shard, os.path.join(save_dir, fname), metadata=meta)
        files.append(fname)
        for name in shard:
            weight_map[name] = fname
    with open(os.path.join(save_dir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    return files


def save_checkpoint(queue, args):
    checking = getattr(args, "checking", True)
    rx = _Receiver(queue, checking)
    md = rx.get()
    ca = getattr(md, "checkpoint_args", None)

    def carg(name, default=None):
        return getattr(ca, name, default) if ca is not None else default

    src, src_folder = _read_source_config(args.hf_source)

    # --- architecture checks: only what HF MixtralForCausalLM can express --------------------
    if getattr(md, "model_type", "GPT") != "GPT":
        _fail(f"model_type {md.model_type} is not GPT")
    if getattr(md, "position_embedding_type", "rope") != "rope":
        _fail(f"position_embedding_type {md.position_embedding_type} is not rope")
    if not getattr(md, "swiglu", False):
        _fail("the checkpoint does not use SwiGLU; Mixtral experts need it")
    if getattr(md, "linear_bias", False) or getattr(md, "qkv_bias", False):
        _fail("the checkpoint has linear/qkv biases; MixtralForCausalLM has none")
    if getattr(md, "norm_has_bias", False) or carg("normalization", "RMSNorm") != "RMSNorm":
        _fail("the checkpoint uses LayerNorm (with bias); Mixtral uses RMSNorm")
    for flag in ("qk_layernorm", "moe_router_pre_softmax", "apply_layernorm_1p"):
        if carg(flag, False):
            _fail(f"checkpoint arg {flag}=True has no MixtralForCausalLM equivalent")
    if carg("moe_router_score_function", "softmax") != "softmax":
        _fail(f"moe_router_score_function {carg('moe_router_score_function')} is not softmax")
    if carg("moe_shared_expert_intermediate_size") or carg("moe_router_enable_expert_bias", False):
        _fail("shared experts / router expert bias have no MixtralForCausalLM equivalent")
    if (carg("rotary_percent", 1.0) or 1.0) != 1.0:
        _fail(f"rotary_percent {carg('rotary_percent')} != 1.0")
    if carg("use_rope_scaling", False):
        _fail("use_rope_scaling is not supported")

    num_layers = md.num_layers
    hidden = md.hidden_size
    num_heads = md.num_attention_heads
    num_groups = carg("num_query_groups") if carg("group_query_attention", False) else None
    num_groups = num_groups or src.get("num_key_value_heads") or num_heads
    head_dim = carg("kv_channels") or src.get("head_dim") or hidden // num_heads

    vocab_size = args.hf_vocab_size or getattr(md, "true_vocab_size", None) or src.get("vocab_size")

    if args.hf_dtype is not None:
        dtype_name = args.hf_dtype
    else:
        dtype_name = {v: k for k, v in _DTYPES.items()}.get(getattr(md, "params_dtype", None), "bfloat16")
    dtype = _DTYPES[dtype_name]

    def put(name, t):
        tensors[name] = t.detach().to(device="cpu", dtype=dtype).contiguous().clone()

    tensors = {}

    # --- embeddings ---------------------------------------------------------------------------
    msg = rx.get("embeddings")
    word = msg.pop("word embeddings")
    msg.pop("position embeddings", None)  # rope models have none; ignore if a loader sends it
    rx.done_with(msg)
    if vocab_size is None:
        print("saver_exp_hf: warning: no true vocab size known; keeping the padded table", flush=True)
        vocab_size = word.shape[0]
    word = _trim_vocab(word, vocab_size, "word embeddings")
    put("model.embed_tokens.weight", word)

    # --- transformer layers -------------------------------------------------------------------
    num_experts = None
    ffn = None
    for i in range(num_layers):
        msg = rx.get(f"transformer layer {i}")
        p = f"model.layers.{i}."
        put(p + "input_layernorm.weight", msg.pop("input norm weight"))
        put(p + "post_attention_layernorm.weight", msg.pop("post norm weight"))

        q, k, v = _unfuse_qkv(msg.pop("qkv weight"), num_heads, num_groups, head_dim, hidden)
        put(p + "self_attn.q_proj.weight", q)
        put(p + "self_attn.k_proj.weight", k)
        put(p + "self_attn.v_proj.weight", v)
        put(p + "self_attn.o_proj.weight", msg.pop("dense weight"))

        if "router weight" not in msg:
            _fail(f"layer {i} has no 'router weight': not an MoE checkpoint, or the loader drops "
                  "MoE tensors (loader_core at core_v0.16.1 does; see README)")
        router = msg.pop("router weight")
        w_gate = msg.pop("mlp l0 weight W")
        w_up = msg.pop("mlp l0 weight V")
        w_down = msg.pop("mlp l1 weight")
        if w_gate.dim() != 3 or w_up.shape != w_gate.shape or w_down.dim() != 3:
            _fail(f"layer {i}: expert weights must be stacked [experts, out, in]; got "
                  f"{tuple(w_gate.shape)}, {tuple(w_up.shape)}, {tuple(w_down.shape)}")
        e, f_, h = w_gate.shape
        if h != hidden or tuple(w_down.shape) != (e, hidden, f_) or tuple(router.shape) != (e, hidden):
            _fail(f"layer {i}: inconsistent MoE shapes gate {tuple(w_gate.shape)} down "
                  f"{tuple(w_down.shape)} router {tuple(router.shape)}")
        if num_experts is None:
            num_experts, ffn = e, f_
        elif (num_experts, ffn) != (e, f_):
            _fail(f"layer {i}: {e} experts of width {f_}, earlier layers had {num_experts} x {ffn}")
        put(p + "block_sparse_moe.gate.weight", router)
        for x in range(e):
            ep = p + f"block_sparse_moe.experts.{x}."
            put(ep + "w1.weight", w_gate[x])
            put(ep + "w3.weight", w_up[x])
            put(ep + "w2.weight", w_down[x])
        rx.done_with(msg)

    # --- final norm, output layer, done ------------------------------------------------------
    msg = rx.get("final norm")
    put("model.norm.weight", msg.pop("weight"))
    rx.done_with(msg)

    if getattr(md, "output_layer", True):
        msg = rx.get("output layer")
        put("lm_head.weight", _trim_vocab(msg.pop("weight"), vocab_size, "output layer"))
        rx.done_with(msg)
    else:
        # Tied in Megatron: HF gets an explicit, untied copy (tie_word_embeddings stays false).
        put("lm_head.weight", word)

    msg = rx.get()
    if not (isinstance(msg, str) and msg == "done"):
        _fail(f"expected 'done', got {msg.get('name') if isinstance(msg, dict) else msg!r}")

    # --- config.json (4.x dialect) ------------------------------------------------------------
    meg_ffn = carg("moe_ffn_hidden_size") or carg("ffn_hidden_size")
    if meg_ffn is not None and meg_ffn != ffn:
        print(f"saver_exp_hf: warning: ffn_hidden_size {meg_ffn} in args, {ffn} in tensors; "
              "writing the tensors' value", flush=True)
    meg_experts = carg("num_experts") or getattr(md, "num_experts", None)
    if meg_experts is not None and meg_experts != num_experts:
        _fail(f"metadata says {meg_experts} experts, the layers carry {num_experts}")

    rope_theta = _pick("rope_theta", args.hf_rope_theta,
                       float(carg("rotary_base")) if carg("rotary_base") is not None else None,
                       float(src["rope_theta"]) if src.get("rope_theta") is not None else None,
                       1e6)
    rms_eps = _pick("rms_norm_eps", args.hf_rms_norm_eps, carg("norm_epsilon"),
                    src.get("rms_norm_eps"), 1e-5)
    topk = _pick("num_experts_per_tok", args.hf_num_experts_per_tok, carg("moe_router_topk"),
                 src.get("num_experts_per_tok"), 2)

    config = {
        "architectures": ["MixtralForCausalLM"],
        "model_type": "mixtral",
        "attention_dropout": 0.0,
        "bos_token_id": src.get("bos_token_id", 1),
        "eos_token_id": src.get("eos_token_id", 2),
        "head_dim": head_dim,
        "hidden_act": "silu",
        "hidden_size": hidden,
        "initializer_range": src.get("initializer_range", 0.02),
        "intermediate_size": ffn,
        "max_position_embeddings": md.max_position_embeddings,
        "num_attention_heads": num_heads,
        "num_experts_per_tok": topk,
        "num_hidden_layers": num_layers,
        "num_key_value_heads": num_groups,
        "num_local_experts": num_experts,
        "output_router_logits": False,
        "rms_norm_eps": rms_eps,
        "rope_theta": rope_theta,
        "router_aux_loss_coef": src.get("router_aux_loss_coef", carg("moe_aux_loss_coeff") or 0.001),
        "router_jitter_noise": 0.0,
        "sliding_window": src.get("sliding_window"),
        "tie_word_embeddings": False,
        "torch_dtype": dtype_name,
        "use_cache": True,
        "vocab_size": vocab_size,
    }
    if src.get("pad_token_id") is not None:
        config["pad_token_id"] = src["pad_token_id"]

    os.makedirs(args.save_dir, exist_ok=True)
    files = _write_safetensors(tensors, args.save_dir, args.hf_max_shard_size)
    with open(os.path.join(args.save_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    if args.hf_copy_aux_files:
        if src_folder is None:
            _fail("--hf-copy-aux-files needs --hf-source")
        for name in _AUX_FILES:
            if os.path.exists(os.path.join(src_folder, name)):
                shutil.copy2(os.path.join(src_folder, name), os.path.join(args.save_dir, name))
    print(f"saver_exp_hf: wrote {len(tensors)} tensors ({dtype_name}) to {args.save_dir}: "
          f"{', '.join(files)} + config.json", flush=True)

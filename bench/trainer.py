"""PyTorch eager on the same work as `exp-trainer`'s `train_bench` example: transformers'
MixtralForCausalLM with one of exp's presets and the LLM-jp vocabulary of 99,574:
`tiny` (hidden 64, 2 layers, 4 heads / 2 key-value heads, 4 experts top-2, expert size 128)
or `small512` (hidden 512, 8 layers, 8 heads / 4 key-value heads, 8 experts top-2, expert
size 1024; `MixtralConfig::small_512`). Random tokens, one batch per AdamW step with
global-norm clipping, the router loss included. Prints the mean tokens/s of the steps after
the first.

    python3 bench/trainer.py STEPS BATCH SEQ THREADS [PRESET]
"""

import sys
import time

import torch
import transformers
from transformers import MixtralConfig, MixtralForCausalLM

steps, micro, seq, threads = (int(a) for a in sys.argv[1:5])
preset = sys.argv[5] if len(sys.argv) > 5 else "tiny"
shapes = {
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, head_dim=16, num_local_experts=4),
    "small512": dict(hidden_size=512, intermediate_size=1024, num_hidden_layers=8, num_attention_heads=8,
                     num_key_value_heads=4, head_dim=64, num_local_experts=8),
}[preset]
torch.set_num_threads(threads)
torch.manual_seed(0)
config = MixtralConfig(
    vocab_size=99_574, **shapes, num_experts_per_tok=2, max_position_embeddings=1024,
    rope_theta=10_000.0, router_aux_loss_coef=0.01, tie_word_embeddings=False,
)
model = MixtralForCausalLM(config).train()
optim = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
rates = []
for step in range(steps):
    ids = torch.randint(0, 99_574, (micro, seq + 1))
    began = time.perf_counter()
    out = model(ids[:, :-1], labels=ids[:, :-1], output_router_logits=True)
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optim.step()
    optim.zero_grad(set_to_none=True)
    rates.append(micro * seq / (time.perf_counter() - began))
mean = sum(rates[1:]) / len(rates[1:])
print(f"PyTorch {torch.__version__} eager, transformers {transformers.__version__}, {preset}, batch {micro}, {threads} thread(s)\t{mean:.0f}")

#!/usr/bin/env python3
"""PyTorch peer of safe-align's GPT, for `npm run bench`.

The same model as src/model/gpt.ts (pre-LN GPT-2 blocks, tanh-GELU, tied output head, GPT-2 init),
the same training step (forward, backward, global-norm clip 1.0, AdamW(0.9, 0.95, eps 1e-8) with
weight decay 0.1 on matrices only) and the same sampling loop (KV cache or full recomputation,
multinomial at temperature 1). Prints one JSON object on stdout.

Usage: torch_peer.py --vocab 512 --block 64 --layers 4 --heads 4 --embd 128 --batch 32
                     --steps 5 --threads 1 [--sample-prompt 16 --sample-new 48] [--device cuda]

--device cuda runs the same model and step on the GPU (fp32, eager); every timed call ends with
torch.cuda.synchronize(), so a time is the GPU's work and not the launch queue's.
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, d, nh):
        super().__init__()
        self.nh = nh
        self.ln_1 = nn.LayerNorm(d, eps=1e-5)
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d, eps=1e-5)
        self.c_fc = nn.Linear(d, 4 * d)
        self.mlp_proj = nn.Linear(4 * d, d)

    def forward(self, x, past=None):
        b, t, d = x.shape
        hs = d // self.nh
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
        q = q.view(b, t, self.nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(b, t, self.nh, hs).transpose(1, 2)
        v = v.view(b, t, self.nh, hs).transpose(1, 2)
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        tk = k.shape[2]
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)  # (B, nh, T, Tk)
        causal = torch.ones(t, tk, dtype=torch.bool, device=x.device).tril(diagonal=tk - t)
        att = att.masked_fill(~causal, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(b, t, d)
        x = x + self.c_proj(y)
        x = x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))
        return x, (k, v)


class GPT(nn.Module):
    def __init__(self, vocab, block, layers, heads, d):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(block, d)
        self.h = nn.ModuleList([Block(d, heads) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(d, eps=1e-5)
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif "ln" in name:
                nn.init.ones_(p)
            else:
                std = 0.02 / math.sqrt(2 * layers) if name.endswith("c_proj.weight") or name.endswith("mlp_proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx, past=None, start=0):
        t = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(start, start + t, device=idx.device))
        presents = []
        for i, blk in enumerate(self.h):
            x, kv = blk(x, None if past is None else past[i])
            presents.append(kv)
        return self.ln_f(x) @ self.wte.weight.T, presents


def make_optimizer(model):
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
        lr=1e-3, betas=(0.9, 0.95), eps=1e-8,
    )


def train_step(model, opt, tokens):
    logits, _ = model(tokens)
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.item()


@torch.no_grad()
def sample(model, prompts, new_tokens, kv_cache, gen):
    seq = prompts
    logits, past = model(seq)
    for i in range(new_tokens):
        probs = logits[:, -1].softmax(dim=-1)
        nxt = torch.multinomial(probs, 1, generator=gen)
        seq = torch.cat([seq, nxt], dim=1)
        if i == new_tokens - 1:
            break
        if kv_cache:
            logits, past = model(nxt, past, start=seq.shape[1] - 1)
        else:
            logits, past = model(seq)
    return seq


def timed(fn, n, warmup, sync=lambda: None):
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vocab", type=int, default=512)
    ap.add_argument("--block", type=int, default=64)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--embd", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--sample-prompt", type=int, default=16)
    ap.add_argument("--sample-new", type=int, default=48)
    ap.add_argument("--sample-runs", type=int, default=3)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1337)
    dev = torch.device(a.device)
    sync = torch.cuda.synchronize if a.device == "cuda" else (lambda: None)
    model = GPT(a.vocab, a.block, a.layers, a.heads, a.embd).to(dev)
    opt = make_optimizer(model)
    tokens = torch.randint(0, a.vocab, (a.batch, a.block), device=dev)
    step_ms = timed(lambda: train_step(model, opt, tokens), a.steps, a.warmup, sync)
    prompts = torch.randint(0, a.vocab, (a.batch, a.sample_prompt), device=dev)
    gen = torch.Generator(device=dev).manual_seed(7)
    out = {
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name() if a.device == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "train_step_ms": step_ms,
        "params": sum(p.numel() for p in model.parameters()),
    }
    for kv in (True, False):
        ms = timed(lambda: sample(model, prompts, a.sample_new, kv, gen), a.sample_runs, 1, sync)
        out["sample_kv_ms" if kv else "sample_nokv_ms"] = ms
    print(json.dumps(out))


if __name__ == "__main__":
    main()

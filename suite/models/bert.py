"""BERT encoders (Devlin et al. 2018) with the pooler, as HuggingFace's BertModel.

Input: token ids (S,) int64; output: the pooled first-token state (H,) = tanh(W h_0 + b).
No attention mask (every token attends to every token) and token type 0 everywhere.
Names follow HuggingFace's state dict ("encoder.layer.0.attention", "pooler.dense").
"""
from __future__ import annotations

from dataclasses import dataclass

from suite.models.ir import GraphBuilder, Model


@dataclass(frozen=True)
class BertConfig:
    """The hyper-parameters of a BERT encoder."""

    layers: int
    hidden: int
    heads: int
    intermediate: int
    vocab_size: int = 30522
    max_positions: int = 512
    type_vocab_size: int = 2
    layernorm_eps: float = 1e-12
    dropout: float = 0.1


BERT_BASE = BertConfig(layers=12, hidden=768, heads=12, intermediate=3072)
BERT_LARGE = BertConfig(layers=24, hidden=1024, heads=16, intermediate=4096)


def _layer(b: GraphBuilder, name: str, x: str, cfg: BertConfig) -> str:
    """One post-LN transformer layer: self-attention and feed-forward, each add + layer norm."""
    eps, rate = cfg.layernorm_eps, cfg.dropout
    a = b.add("attention", f"{name}.attention", [x], heads=cfg.heads)
    a = b.unary("dropout", f"{name}.attention.dropout", a, rate=rate)
    a = b.add("add", f"{name}.attention.add", [a, x])
    x = b.unary("layernorm", f"{name}.attention.layernorm", a, eps=eps)
    h = b.dense(f"{name}.intermediate", x, cfg.intermediate)
    h = b.unary("gelu", f"{name}.intermediate.gelu", h)
    h = b.dense(f"{name}.output", h, cfg.hidden)
    h = b.unary("dropout", f"{name}.output.dropout", h, rate=rate)
    h = b.add("add", f"{name}.output.add", [h, x])
    return b.unary("layernorm", f"{name}.output.layernorm", h, eps=eps)


def bert(name: str, title: str, seq_len: int, cfg: BertConfig, notes: str = "") -> Model:
    """A BERT encoder with pooler for sequences of `seq_len` tokens."""
    b = GraphBuilder(name, title)
    x = b.input("input_ids", (seq_len,), dtype="int64", high=cfg.vocab_size)
    x = b.add("embeddings", "embeddings", [x], vocab_size=cfg.vocab_size, hidden=cfg.hidden,
              max_positions=cfg.max_positions, type_vocab_size=cfg.type_vocab_size)
    x = b.unary("layernorm", "embeddings.layernorm", x, eps=cfg.layernorm_eps)
    x = b.unary("dropout", "embeddings.dropout", x, rate=cfg.dropout)
    for i in range(cfg.layers):
        x = _layer(b, f"encoder.layer.{i}", x, cfg)
    x = b.unary("first_token", "pooler.first_token", x)
    x = b.dense("pooler.dense", x, cfg.hidden)
    x = b.unary("tanh", "pooler.tanh", x)
    return b.build(x, notes=notes)


def bert_base(seq_len: int) -> Model:
    return bert("bert_base", "BERT-base", seq_len, BERT_BASE,
                notes="BERT-base uncased (L=12, H=768, A=12, vocab 30522) with pooler, as "
                      "HuggingFace BertModel; no attention mask, token type 0.")


def bert_large(seq_len: int) -> Model:
    return bert("bert_large", "BERT-large", seq_len, BERT_LARGE,
                notes="BERT-large uncased (L=24, H=1024, A=16, vocab 30522) with pooler, as "
                      "HuggingFace BertModel; no attention mask, token type 0.")

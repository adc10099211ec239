"""The student's training settings: one small dataclass with `key=value` overrides.

Every `auto` setting is filled in by `TrainConfig.resolved()` for the kind of student (from
scratch or pretrained), so a run's recorded config says what actually trained.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields

from ..values import coerce
from ..errors import MckdError
from ..formats import FORMATS, TREE_FORMATS
from .tokenizer import LEAVES


@dataclass
class TrainConfig:
    format: str = "unlabeled"     # unlabeled | labeled | skeleton | text
    init: str = ""                # local HF seq2seq checkpoint to fine-tune ("" = from scratch),
                                  # or a decoder-only one: a GGUF short name (smollm2), a .gguf
                                  # file or an HF causal-LM folder (mckd.student.causal)
    arch: str = "t5-micro"        # named from-scratch config (mckd.student.models.ARCHS)
    leaves: str = "auto"          # indexed | slots | words | bare | auto (indexed for from-scratch
                                  # trees, words for pretrained); bare: pretrained unlabeled
                                  # students write `( ( The dog ) barked )`, about half the tokens
    vocab_size: int = 2000        # from-scratch tokenizer size (the tied output layer's cost)
    epochs: int = 0               # 0 = auto: 20 for pretrained (paper), 30 from scratch
    max_steps: int = 0            # stop after this many optimizer steps in total (0 = no limit)
    stop: str = "epochs"          # epochs | fidelity (the paper's training-fidelity rule) |
                                  # dev (keep the epoch that scores best on labeled dev records)
    fidelity_sample: int = 200    # training records re-decoded per epoch for fidelity
    fidelity_delta: float = 0.1   # F1 points
    fidelity_patience: int = 3    # epochs in a row with |ΔF1| < delta
    dev_patience: int = 2         # stop=dev: stop after this many epochs without a new best
    batch_size: int = 0           # sentences per micro-batch per rank; 0 = auto: 32 / 16
    grad_accum: int = 1           # micro-batches per optimizer step
    lr: float = 0.0               # 0 = auto: 3e-4 pretrained (paper), 2e-3 from scratch
    warmup: float = -1.0          # fraction of steps; -1 = auto: 0 pretrained, 0.05 scratch
    weight_decay: float = -1.0    # -1 = auto: 0.0 pretrained, 0.01 scratch
    max_grad_norm: float = 1.0    # gradient clipping
    dropout: float = 0.1          # from-scratch students only
    max_source_len: int = 1024    # longer inputs are an error (never silently cut)
    max_target_len: int = 2048    # longer targets are an error (never silently cut)
    bucket: int = 50              # batches per length bucket (sorted inside, shuffled across)
    device: str = "auto"          # auto | cpu | cuda
    # bf16 autocast on CUDA (off: at these students' sizes it was slower than fp32 on an H200,
    # benchmarks/RESULTS.md)
    bf16: bool = False
    # Recompute each layer's activations in the backward pass instead of keeping them: the same
    # gradients for about a fifth more time and a fraction of the memory. auto = on for
    # decoder-only students on the CPU, off on CUDA
    grad_checkpoint: str = "auto"  # auto | on | off
    threads: int = 0              # torch CPU threads (0 = auto, see _set_threads)
    seed: int = 0
    stop_after_epochs: int = 0    # end this invocation after N more epochs (resume later)
    keep_checkpoint: bool = False  # keep checkpoint.pt (optimizer state) after finishing
    # also checkpoint inside an epoch, at the first optimizer step this many minutes after the
    # last save (0 = at epoch ends only): a 0.5B student's CPU epoch is ~30 minutes, and an
    # interruption should not cost that. One process only (with DDP, at epoch ends only)
    checkpoint_minutes: float = 15.0
    log_every: int = 0            # print the loss every N steps (0 = once per epoch)
    quiet: bool = False           # print nothing while training
    progress: bool = True         # a bar per epoch (steps, rate, ETA) when stderr is a terminal

    # fields that do not change what is learned: excluded from the resume fingerprint
    RUNTIME = ("device", "threads", "stop_after_epochs", "keep_checkpoint", "log_every", "quiet",
               "bf16", "checkpoint_minutes", "grad_checkpoint", "progress")

    def resolved(self) -> TrainConfig:
        """A copy with every 'auto' setting filled in for this kind of student."""
        c = dataclasses.replace(self)
        pre = bool(c.init)
        if c.format not in FORMATS:
            raise MckdError(f"unknown format {c.format!r} (expected one of {', '.join(FORMATS)})")
        if c.stop not in ("epochs", "fidelity", "dev"):
            raise MckdError(f"stop={c.stop!r}: expected epochs, fidelity or dev")
        if c.grad_checkpoint not in ("auto", "on", "off"):
            raise MckdError(f"grad_checkpoint={c.grad_checkpoint!r}: expected auto, on or off")
        if c.dev_patience < 1:
            raise MckdError(f"dev_patience={c.dev_patience}: expected >= 1")
        if c.leaves == "auto":
            c.leaves = "indexed" if (not pre and c.format in TREE_FORMATS) else "words"
        if c.format not in TREE_FORMATS:  # tags and text are plain token sequences
            c.leaves = "words"
        if c.leaves not in LEAVES:
            raise MckdError(f"leaves={c.leaves!r}: expected auto or one of {', '.join(LEAVES)}")
        if c.leaves == "bare" and not (pre and c.format == "unlabeled"):
            raise MckdError("leaves=bare is for pretrained (--init) students of the unlabeled "
                            f"format, not {'from-scratch ' if not pre else ''}{c.format}")
        # Pretrained: the paper's recipe. From scratch, measured on CRAFT (<= 20 words, gold
        # unlabeled targets, 200 dev sentences, paper F1; flat trees score 34.3, right-branching
        # 55.5): t5-micro, 400 examples, batch 16, lr 2e-3, indexed leaves: 35.5 / 36.1 / 37.5
        # after 10 / 20 / 30 epochs (4 min on 1 shared core); slot leaves stalled at 34.3-40.8.
        # Small from-scratch students learn slowly: expect far better with --init (a T5).
        if c.epochs <= 0:
            c.epochs = 20 if pre else 30
        if c.batch_size == 0:
            c.batch_size = 32 if pre else 16
        if c.lr <= 0:
            c.lr = 3e-4 if pre else 2e-3
        if c.warmup < 0:
            c.warmup = 0.0 if pre else 0.05
        if c.weight_decay < 0:
            c.weight_decay = 0.0 if pre else 0.01
        if c.batch_size < 1 or c.grad_accum < 1:
            raise MckdError("batch_size and grad_accum must be >= 1")
        return c


def apply_overrides(cfg: TrainConfig, items: list[str]) -> TrainConfig:
    """Apply `key=value` strings to a TrainConfig, converting to each field's type."""
    names = {f.name: f for f in fields(cfg)}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().lstrip("-").replace("-", "_")
        if not sep or key not in names:
            raise MckdError(f"override {item!r}: expected key=value with key one of "
                            f"{', '.join(sorted(names))}")
        setattr(cfg, key, coerce(value, type(getattr(cfg, key)), f"override {item!r}"))
    return cfg

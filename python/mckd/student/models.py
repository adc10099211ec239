"""Student models: named from-scratch T5 configs and loading any local HF seq2seq checkpoint.

Every from-scratch config ties the input and output embeddings: measured with ctranslate2 4.8.5,
untied (T5 v1.1-style) configs convert wrongly to CTranslate2 with transformers 5.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import MckdError

# d_model, d_ff, layers (encoder = decoder), heads, d_kv
ARCHS: dict[str, dict] = {
    # Smallest: ~1M parameters; for tests and tiny demos on 2 CPU cores.
    "t5-micro": dict(d_model=128, d_ff=512, num_layers=2, num_heads=4, d_kv=32),
    # CPU-sized default: ~4.5M parameters + vocab × 256; trains on a few thousand sentences on
    # 2 cores in minutes.
    "t5-tiny": dict(d_model=256, d_ff=1024, num_layers=3, num_heads=4, d_kv=64),
    # Between the two: still CPU-trainable, more capacity for tens of thousands of sentences.
    "t5-mini": dict(d_model=384, d_ff=1536, num_layers=4, num_heads=6, d_kv=64),
    # t5-small / t5-base shapes, for GPUs.
    "t5-small": dict(d_model=512, d_ff=2048, num_layers=6, num_heads=8, d_kv=64),
    "t5-base": dict(d_model=768, d_ff=3072, num_layers=12, num_heads=12, d_kv=64),
}

SUPPORTED_MODEL_TYPES = ("t5", "bart", "mbart")


def build_model(arch: str, vocab_size: int, pad_id: int, eos_id: int, dropout: float = 0.1):
    """A freshly initialised T5ForConditionalGeneration of a named shape (tied embeddings)."""
    from transformers import T5Config, T5ForConditionalGeneration

    if arch not in ARCHS:
        raise MckdError(f"unknown student arch {arch!r} (known: {', '.join(ARCHS)})")
    a = ARCHS[arch]
    cfg = T5Config(
        vocab_size=vocab_size, d_model=a["d_model"], d_ff=a["d_ff"], d_kv=a["d_kv"],
        num_layers=a["num_layers"], num_decoder_layers=a["num_layers"], num_heads=a["num_heads"],
        relative_attention_num_buckets=32, relative_attention_max_distance=128,
        dropout_rate=dropout, feed_forward_proj="relu", tie_word_embeddings=True,
        pad_token_id=pad_id, eos_token_id=eos_id, decoder_start_token_id=pad_id,
    )
    return T5ForConditionalGeneration(cfg)


def load_pretrained(init_dir: str | Path):
    """Load a local HF seq2seq checkpoint (T5 or BART family) for fine-tuning."""
    from transformers import AutoConfig, AutoModelForSeq2SeqLM

    d = Path(init_dir)
    if not (d / "config.json").exists():
        raise MckdError(f"{d}: not a Hugging Face checkpoint folder (no config.json)")
    try:
        cfg = AutoConfig.from_pretrained(d, local_files_only=True)
    except Exception as e:  # noqa: BLE001 - transformers raises many kinds
        raise MckdError(f"{d}/config.json: cannot read ({e})") from None
    if cfg.model_type not in SUPPORTED_MODEL_TYPES or not getattr(cfg, "is_encoder_decoder", False):
        raise MckdError(f"{d}: model type {cfg.model_type!r} is not a supported seq2seq student "
                        f"(supported: {', '.join(SUPPORTED_MODEL_TYPES)})")
    try:
        model = AutoModelForSeq2SeqLM.from_pretrained(d, local_files_only=True)
    except Exception as e:  # noqa: BLE001
        raise MckdError(f"{d}: cannot load the model weights ({e})") from None
    return model


def param_count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def greedy_decode(model, tok, words_list: list[list[str]], bound: dict, device,
                  batch_size: int = 64, min_new_tokens: int = 0) -> list[list[int]]:
    """PyTorch greedy decoding of a seq2seq student, batched, with the same per-batch length
    limit as `mckd relabel`; generated ids without EOS or padding."""
    import torch

    from .batches import inference, pad
    from .tokenizer import max_decoding_length

    srcs = [tok.encode_source(w) for w in words_list]
    order = sorted(range(len(srcs)), key=lambda i: len(srcs[i]))
    out: list[list[int]] = [None] * len(srcs)
    with inference(model):
        for s in range(0, len(order), batch_size):
            ids = order[s:s + batch_size]
            x = pad([srcs[i] for i in ids], tok.pad_id, torch).to(device)
            limit = max(max_decoding_length(bound, len(words_list[i]), len(srcs[i]))
                        for i in ids)
            gen = model.generate(input_ids=x, attention_mask=(x != tok.pad_id).long(),
                                 max_new_tokens=limit, num_beams=1, do_sample=False,
                                 min_new_tokens=min_new_tokens, forced_bos_token_id=None,
                                 forced_eos_token_id=None)
            start = model.config.decoder_start_token_id
            for row, i in zip(gen.tolist(), ids):
                if row and row[0] == start:
                    row = row[1:]
                seq = []
                for t in row:
                    if t == tok.eos_id:
                        break
                    if t == tok.pad_id:
                        continue
                    seq.append(t)
                out[i] = seq
    return out

"""Student kinds behind one interface: what a seq2seq (T5/BART) and a decoder-only (causal LM)
student do differently. Training (`train`), export (`export`) and relabeling (`relabel`) ask
the kind and never branch on it themselves; a new kind is one subclass here and one entry in
`KINDS`.

    seq2seq   from scratch (a named T5 config) or a local T5/BART folder; CTranslate2 Translator
    causal    a GGUF, a packaged short name or an HF causal-LM folder (mckd.student.causal);
              CTranslate2 Generator, plus a GGUF for llama.cpp; constrained decoding

A student folder records its kind as "student_kind" in mckd_student.json / mckd_model.json,
where the kind is not seq2seq (folders from before the key existed are seq2seq).
Importing this module imports neither torch nor transformers.
"""

from __future__ import annotations

from pathlib import Path


class StudentKind:
    """One kind of student. Methods take the torch module where they need it (no import here)."""

    name = ""
    ct2_class = ""          # the CTranslate2 class that decodes it
    can_constrain = False   # whether decoding can run under a format's grammar
    recompute_on_cpu = False  # grad_checkpoint=auto recomputes activations on a CPU

    # -- training
    def init_tokenizer(self, cfg, out_dir: Path):
        """The tokenizer of a student that starts from `cfg.init`."""
        raise NotImplementedError

    def load(self, init: str):
        """The `init` model to fine-tune."""
        raise NotImplementedError

    def batch(self, tok, srcs: list[list[int]], tgts: list[list[int]], device, torch):
        """(input_ids, labels, attention_mask) of one batch; labels -100 where no loss is taken."""
        raise NotImplementedError

    def loss(self, model, x, y, am):
        """The training loss of one batch (a DDP-wrapped model through its own forward)."""
        return model(input_ids=x, attention_mask=am, labels=y).loss

    # -- PyTorch decoding (the reference every export is checked against)
    def greedy(self, model, tok, words_list, bound: dict, device, batch_size: int = 64,
               min_new_tokens: int = 0) -> list[list[int]]:
        """Generated ids (without EOS), each cut at `mckd relabel`'s length limit."""
        raise NotImplementedError

    def constrained_greedy(self, model, tok, words_list, bound: dict, device,
                           fmt: str) -> list[str]:
        raise NotImplementedError(f"{self.name} students do not decode under a grammar")

    # -- export
    def check_parity(self, hf_dir: Path, f32_dir: Path, meta: dict, inputs) -> tuple[dict, object]:
        """(the CTranslate2 float32 parity summary, a reference `extra_files` may reuse)."""
        raise NotImplementedError

    def extra_files(self, hf_dir: Path, final: Path, quantization: str, ref) -> dict:
        """Files exported beside the CTranslate2 model: {manifest key: what was written}."""
        return {}

    # -- CTranslate2 decoding (no torch)
    def ct2_decode(self, model, tok, srcs: list[list[str]], *, per_batch: int, limit: int,
                   min_new: int, sampling: dict) -> list[tuple[list, float | None]]:
        """(what it generated, its score) per source: tokens or ids, as `text` reads them."""
        raise NotImplementedError

    def text(self, tok, generated: list, words: list[str]) -> str:
        raise NotImplementedError

    def meta(self) -> dict:
        """What a student folder records of its kind."""
        return {"student_kind": self.name}


class Seq2Seq(StudentKind):
    name = "seq2seq"
    ct2_class = "Translator"

    def init_tokenizer(self, cfg, out_dir: Path):
        from ..errors import MckdError
        from ..formats import TREE_FORMATS
        from .tokenizer import StudentTokenizer

        init = Path(cfg.init)
        if (init / "mckd_tokenizer.json").exists():
            return StudentTokenizer.load(init, format=cfg.format,
                                         leaves=cfg.leaves if cfg.format in TREE_FORMATS
                                         else "words")
        if not (init / "tokenizer.json").exists():
            try:  # a checkpoint with only a slow (sentencepiece) tokenizer: convert it once
                from transformers import AutoTokenizer

                AutoTokenizer.from_pretrained(init, local_files_only=True).backend_tokenizer.save(
                    str(out_dir / "tokenizer.json"))
                return StudentTokenizer.load(out_dir, format=cfg.format, leaves=cfg.leaves)
            except Exception as e:  # noqa: BLE001
                raise MckdError(f"{init}: no usable tokenizer ({e})") from None
        return StudentTokenizer.load(init, format=cfg.format, leaves=cfg.leaves)

    def load(self, init: str):
        from .models import load_pretrained

        return load_pretrained(init)

    def batch(self, tok, srcs, tgts, device, torch):
        from .batches import pad

        x = pad(srcs, tok.pad_id, torch).to(device)
        y = pad(tgts, -100, torch).to(device)
        return x, y, (x != tok.pad_id).long()

    def greedy(self, model, tok, words_list, bound, device, batch_size=64, min_new_tokens=0):
        from .models import greedy_decode

        return greedy_decode(model, tok, words_list, bound, device, batch_size, min_new_tokens)

    def check_parity(self, hf_dir, f32_dir, meta, inputs):
        from .parity import seq2seq_parity

        return seq2seq_parity(hf_dir, f32_dir, meta, inputs), None

    def ct2_decode(self, model, tok, srcs, *, per_batch, limit, min_new, sampling):
        results = model.translate_batch(
            srcs, max_batch_size=per_batch, batch_type="tokens", beam_size=1,
            max_decoding_length=limit, return_scores=True, length_penalty=0.0,
            min_decoding_length=min_new, **sampling)
        return [(list(r.hypotheses[0]), float(r.scores[0]) if r.scores else None)
                for r in results]

    def text(self, tok, generated, words):
        return tok.decode(generated, words)

    def meta(self) -> dict:
        return {}  # T5/BART students keep the meta they always had (no key = seq2seq)


class Causal(StudentKind):
    name = "causal"
    ct2_class = "Generator"
    can_constrain = True
    recompute_on_cpu = True  # activations were most of the memory of a 135M student at batch 16

    def init_tokenizer(self, cfg, out_dir):
        from .causal import load_tokenizer

        return load_tokenizer(cfg.init, cfg.format, cfg.leaves)

    def load(self, init):
        from .causal import load_model

        return load_model(init)

    def batch(self, tok, srcs, tgts, device, torch):
        from .causal import make_batch

        return tuple(t.to(device) for t in make_batch(srcs, tgts, tok.pad_id, torch))

    def loss(self, model, x, y, am):
        # the loss from the target positions only, in chunks (causal.target_loss); a
        # DDP-wrapped model goes through its own forward
        if hasattr(model, "base_model") and hasattr(model, "get_output_embeddings"):
            from .causal import target_loss

            return target_loss(model, x, y, am)
        return super().loss(model, x, y, am)

    def greedy(self, model, tok, words_list, bound, device, batch_size=64, min_new_tokens=0):
        from .causal import greedy_decode

        return greedy_decode(model, tok, words_list, bound, device, min_new_tokens)

    def constrained_greedy(self, model, tok, words_list, bound, device, fmt):
        from .causal import constrained_greedy

        return constrained_greedy(model, tok, words_list, bound, device, fmt)

    def check_parity(self, hf_dir, f32_dir, meta, inputs):
        # one PyTorch pass per probe serves the CTranslate2 and the GGUF checks
        from .causal import ForcedReference

        ref = ForcedReference(hf_dir, inputs)
        return ref.check_ct2(f32_dir), ref

    def extra_files(self, hf_dir, final, quantization, ref):
        from .gguf_export import export_gguf

        gguf = export_gguf(hf_dir, final, quantization, ref)  # for llama.cpp decoding
        return {"gguf": gguf} if gguf else {}

    def ct2_decode(self, model, tok, srcs, *, per_batch, limit, min_new, sampling):
        # a continuation of the prompt; the score sums the generated tokens' log-probs (EOS
        # included), like the Translator's with length_penalty=0
        results = model.generate_batch(
            srcs, max_batch_size=per_batch, batch_type="tokens", beam_size=1, **sampling,
            max_length=limit, min_length=min_new, include_prompt_in_result=False,
            return_scores=True, length_penalty=0.0,
            end_token=tok.ids_to_tokens([tok.eos_id])[0])
        return [(list(r.sequences_ids[0]), float(r.scores[0]) if r.scores else None)
                for r in results]

    def text(self, tok, generated, words):
        return tok.decode_ids(generated, words)


KINDS: dict[str, StudentKind] = {k.name: k for k in (Seq2Seq(), Causal())}


def of_meta(meta: dict) -> StudentKind:
    """The kind a student folder's mckd_student.json / mckd_model.json records."""
    from ..errors import MckdError

    name = meta.get("student_kind") or "seq2seq"
    if name not in KINDS:
        raise MckdError(f"student_kind {name!r}: this mckd knows {', '.join(KINDS)}")
    return KINDS[name]


def of_tokenizer(tok) -> StudentKind:
    """A causal tokenizer (its prompt, EOS and pad recorded) belongs to a causal student."""
    return KINDS["causal" if tok.causal else "seq2seq"]


def of_init(init: str) -> StudentKind:
    """The kind of student that `init` starts (from scratch: seq2seq)."""
    from .causal import is_causal_init

    return KINDS["causal" if init and is_causal_init(init) else "seq2seq"]

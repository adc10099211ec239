"""The students: small seq2seq (T5/BART) or pretrained decoder-only models that learn the task
from (pseudo)labels, in the order the data meets them:

    tokenizer  -> kinds (models / causal) -> train -> decode -> export (parity, gguf_export)
    (notation)    (what each kind does)        (loop)   (torch)  (CTranslate2, llama.cpp GGUF)
               -> relabel / constrained
                  (batched labeling)

`kinds` is the one place where seq2seq (T5/BART) and decoder-only students differ: training,
export and relabeling ask the student's kind, and a new kind is one class there.

Importing this package imports nothing; `mckd.student.relabel` (and `mckd parse`) runs without
PyTorch.
"""

"""The students: small seq2seq (T5/BART) or pretrained decoder-only models that learn the task
from (pseudo)labels, in the order the data meets them:

    tokenizer  -> models / causal  -> train  -> decode  -> export  -> relabel / constrained
    (notation)    (the model kinds)   (loop)    (torch)    (CTranslate2)  (batched labeling)

Importing this package imports nothing; `mckd.student.relabel` (and `mckd parse`) runs without
PyTorch.
"""

"""The output formats, defined once; every module that accepts a format checks it against these.

Tree formats are bracketed trees (see `mckd.trees` for each notation); "text" is a token
sequence such as slot tagging, scored by `mckd.metrics.text`. Importing this imports nothing.
"""

TREE_FORMATS = ("unlabeled", "labeled", "skeleton")
FORMATS = TREE_FORMATS + ("text",)

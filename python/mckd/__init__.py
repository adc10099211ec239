"""mckd: Multistage Collaborative Knowledge Distillation from a local LLM.

Heavy dependencies (torch, transformers, llama_cpp) are imported lazily by the modules that
need them, so that `import mckd` and `mckd parse` work with only ctranslate2 and tokenizers.
"""

__version__ = "0.1.0"

from .errors import MckdError  # noqa: F401

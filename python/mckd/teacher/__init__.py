"""The few-shot LLM teacher: a local GGUF model run by llama.cpp labels unlabeled inputs.

    from mckd.teacher import TeacherConfig, run_teacher
    summary = run_teacher("smollm2", demos, inputs, "teacher.jsonl", TeacherConfig(shots=8))

Modules: `prompt` (demonstrations and prompt form), `constraint` (cheap tree-constrained
decoding), `engine` (batched llama.cpp), `generate` (prompts -> jobs -> outputs), `gguf` (file
checks before llama.cpp sees a file), `models` (packaged model names), `run` (cache and resume).
"""

from .gguf import check_gguf
from .models import resolve_model
from .run import FORMATS, TeacherConfig, all_cores, run_teacher

__all__ = ["FORMATS", "TeacherConfig", "all_cores", "check_gguf", "resolve_model", "run_teacher"]

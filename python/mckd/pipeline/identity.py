"""What identifies the models a run reads, by content: the teacher (a GGUF's sha256, or what a
server reports of its model) and a student's `init` checkpoint. Both enter the fingerprints of
the steps that use them, so a file replaced at the same path re-runs those steps. Hashes are
cached by path, size and mtime (mckd.filehash).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import MckdError
from ..jsonio import sha256_text


def teacher_identity(c, hash_cache: Path) -> tuple[str, str]:
    """(resolved path, sha256) of the teacher GGUF; a short name resolves to its file first.
    A server teacher: (URL, sha256 of what the server reports of its model)."""
    from ..filehash import file_sha256
    from ..teacher.models import resolve_model, verified_sha256

    if c.url:
        from ..teacher.server import Client

        ident = Client(c.server()).identity()
        return ident["url"], sha256_text(json.dumps(ident, sort_keys=True))
    spec = c.model
    path = resolve_model(spec)
    if not path.is_file():
        raise MckdError(f"teacher.model={spec!r}: no such file {str(path)!r} (expected a "
                        ".gguf model or a packaged short name such as smollm2)")
    # a packaged model checked when it was assembled need not be hashed again (1 GB: ~4 s)
    return str(path), verified_sha256(path) or file_sha256(path, hash_cache)

def init_sha(init: str, hash_cache: Path) -> str | None:
    """Content hash of the `student.init` checkpoint (every file), None when from scratch."""
    from ..filehash import tree_sha256

    if not init:
        return None
    if not Path(init).exists():
        from ..student.causal import is_short_name

        if not is_short_name(init):
            raise MckdError(f"student.init {init}: not found")
        # a packaged GGUF short name: the student starts from that file's content
        from ..filehash import file_sha256
        from ..teacher.models import resolve_model, verified_sha256

        path = resolve_model(init)
        return verified_sha256(path) or file_sha256(path, hash_cache)
    return tree_sha256(init, hash_cache)

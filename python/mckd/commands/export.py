"""`mckd export`: convert a trained student to CTranslate2, and a decoder-only one also to GGUF
for llama.cpp (each checked against PyTorch)."""

from __future__ import annotations

from ..config import QUANTIZATIONS as QUANT


def add_arguments(parser):
    parser.add_argument("student", metavar="STUDENT_DIR", help="folder written by `mckd train`")
    parser.add_argument("--out", required=True, metavar="MODEL_DIR", help="output model folder")
    parser.add_argument("--quantization", choices=QUANT, default="int8",
                        help="CTranslate2 weight type (default int8)")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar (there is none either when stderr is not a terminal)")


def run(args) -> int:
    import json
    import sys

    from ..jsonio import check_out_path
    from ..student.export import export_student

    check_out_path(args.out, "dir")
    m = export_student(args.student, args.out, quantization=args.quantization,
                       progress=not args.no_progress)
    p = m["parity_check"]
    if p.get("method") == "teacher-forced":  # decoder-only students
        said = (f"{p['positions']} teacher-forced positions of {p['inputs']} probes, "
                f"max log-prob error {p['max_logprob_abs_err']:.2g}, "
                f"{p['argmax_differs']} best tokens differ")
        keys = ("method", "inputs", "positions", "max_logprob_abs_err", "argmax_differs")
    else:
        said = (f"{p['identical']}/{p['inputs']} identical greedy outputs, {p['ties']} ties, "
                f"max score error {p['max_score_abs_err']:.2g}")
        keys = ("inputs", "identical", "ties", "max_score_abs_err")
    g = m.get("gguf")
    gguf = ""
    if g:
        gguf = (f"; GGUF {g['type']} for llama.cpp (parity: max log-prob error "
                f"{g['parity_check']['max_logprob_abs_err']:.2g})" if g["written"] and
                g.get("parity_check") else f"; GGUF {g['type']}" if g["written"]
                else f"; no GGUF ({g['why']})")
    print(f"exported {args.student} -> {args.out} ({args.quantization}); parity: {said}{gguf}",
          file=sys.stderr)
    print(json.dumps({"out": str(args.out), "quantization": args.quantization,
                      "parity": {k: p[k] for k in keys},
                      **({"gguf": g} if g else {})}))
    return 0

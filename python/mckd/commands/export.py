"""`mckd export`: convert a trained student to CTranslate2 (checked against PyTorch)."""

from __future__ import annotations

from ..config import QUANTIZATIONS as QUANT


def add_arguments(parser):
    parser.add_argument("student", metavar="STUDENT_DIR", help="folder written by `mckd train`")
    parser.add_argument("--out", required=True, metavar="MODEL_DIR", help="output model folder")
    parser.add_argument("--quantization", choices=QUANT, default="int8",
                        help="CTranslate2 weight type (default int8)")


def run(args) -> int:
    import json
    import sys

    from ..jsonio import check_out_path
    from ..student.export import export_student

    check_out_path(args.out, "dir")
    m = export_student(args.student, args.out, quantization=args.quantization)
    p = m["parity_check"]
    print(f"exported {args.student} -> {args.out} ({args.quantization}); parity: "
          f"{p['identical']}/{p['inputs']} identical greedy outputs, {p['ties']} ties, "
          f"max score error {p['max_score_abs_err']:.2g}", file=sys.stderr)
    print(json.dumps({"out": str(args.out), "quantization": args.quantization,
                      "parity": {k: p[k] for k in ("inputs", "identical", "ties",
                                                   "max_score_abs_err")}}))
    return 0

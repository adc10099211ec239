"""`mckd teach`: pseudolabel inputs with a few-shot prompted LLM, local GGUF or server (resumable)."""

from __future__ import annotations


def add_arguments(parser):
    parser.add_argument("--local-teacher", metavar="MODEL.gguf", default=None,
                        help="GGUF model path, or a packaged short name: smollm2 (default), "
                             "gemma3-270m, qwen2.5-coder-0.5b, qwen2.5-coder-1.5b")
    parser.add_argument("--teacher-url", metavar="URL", default=None,
                        help="an OpenAI-compatible completions server instead of a local GGUF "
                             "(llama.cpp server, vLLM): http://host:port; the API key is read "
                             "from $MCKD_TEACHER_API_KEY (see --api-key-env)")
    parser.add_argument("--server-model", default="",
                        help="model name to request from the server (default: the first listed)")
    parser.add_argument("--api-key-env", default="MCKD_TEACHER_API_KEY", metavar="VAR",
                        help="environment variable holding the server's API key")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="server requests in flight (8)")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds per server request before a retry (300)")
    parser.add_argument("--retries", type=int, default=4,
                        help="retries after connection errors, timeouts, 5xx and 429 (4)")
    parser.add_argument("--grammar", choices=["auto", "gbnf", "vllm", "none"], default="auto",
                        help="how a server is constrained: gbnf (llama.cpp `grammar`), vllm "
                             "(its grammar field), none (free text, then repair); auto picks "
                             "by what the server reports")
    parser.add_argument("--max-broken", type=float, default=0.0, metavar="SHARE",
                        help="share of a server's outputs that may break the grammar (the "
                             "server ignored it) before the run fails (0: any fails it); "
                             "such outputs are counted and never served from a cache")
    parser.add_argument("--demos", required=True, metavar="LABELED.jsonl",
                        help="gold demonstrations (dataset records: source + targets[format])")
    parser.add_argument("--input", required=True, metavar="UNLABELED.jsonl",
                        help="records with id and source/words")
    parser.add_argument("--out", required=True, metavar="TEACHER.jsonl",
                        help="output pseudolabels (a .cache.jsonl beside it keeps progress)")
    parser.add_argument("--shots", type=int, default=30, help="demonstrations per prompt (30)")
    parser.add_argument("--demo-selection", choices=["random", "fixed", "similar"],
                        default="random",
                        help="random: k per input (the paper); fixed: one shared set (its KV "
                             "cache is reused); similar: TF-IDF nearest demos")
    parser.add_argument("--format", choices=["unlabeled", "labeled", "skeleton", "text"],
                        default="unlabeled", help="output format (default: unlabeled)")
    parser.add_argument("--seed", type=int, default=0, help="demo selection / sampling seed")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads (0 = all cores, the default; give the free cores on a "
                             "machine shared with other jobs: outputs never depend on it)")
    parser.add_argument("--parallel", type=int, default=8,
                        help="sequences decoded together in one llama.cpp batch (8)")
    from ..teacher.engine import SCHEDULES
    from ..teacher.prompt import PROMPT_FORMATS

    parser.add_argument("--schedule", choices=SCHEDULES, default="level",
                        help="how each llama.cpp call is filled: jump (each sequence feeds all "
                             "it has pending) or level (the same count from each, one weight "
                             "pass per call, the default; see benchmarks/RESULTS.md)")
    parser.add_argument("--instruction", default="",
                        help="a paragraph before the demonstrations (default: none, the paper's "
                             "prompt); @FILE reads it from a file")
    parser.add_argument("--prompt-format", choices=PROMPT_FORMATS, default="plain",
                        help="plain: the paper's Input:/Output: prompt (default); chat: the "
                             "demonstrations as turns of the model's own chat template, the "
                             "instruction as its system message")
    parser.add_argument("--n-ctx", type=int, default=4096,
                        help="context per sequence; demos that do not fit are dropped (4096)")
    parser.add_argument("--unconstrained", action="store_true",
                        help="free generation, then repair (for comparison; default is "
                             "constrained decoding that always yields a tree over the words)")
    parser.add_argument("--temperature", type=float, default=0.0,
                        help="0 = greedy (default); > 0 samples, seeded per input")
    parser.add_argument("--samples", type=int, default=0,
                        help="self-consistency: this many more passes sampled at "
                             "--vote-temperature (seeds seed+1..), and each output becomes the "
                             "consensus tree of all passes (unlabeled format; 0 = one pass)")
    parser.add_argument("--vote-temperature", type=float, default=0.7,
                        help="temperature of the voting samples (0.7)")
    parser.add_argument("--vote-threshold", type=float, default=0.2,
                        help="a span is kept where votes / passes exceed this (0.2: with 3 "
                             "samples, one pass of four suffices, and a CKY settles conflicts)")
    parser.add_argument("--vote-demo-words", default="", metavar="LO-HI",
                        help="one more greedy pass in the vote whose demonstrations are the gold "
                             "examples of LO to HI words (e.g. 20-30)")
    parser.add_argument("--demo-words", default="", metavar="LO-HI",
                        help="only gold examples of LO to HI words are demonstrations")
    parser.add_argument("--max-new-tokens", type=int, default=0,
                        help="output token limit (0 = from the demonstrations)")
    parser.add_argument("--limit", type=int, default=None, help="label only the first N inputs")
    parser.add_argument("--no-shared-cache", action="store_true",
                        help="neither read nor write the shared teacher cache (see `mckd cache`; "
                             "MCKD_TEACHER_CACHE=off does the same for every command)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    import sys
    from pathlib import Path

    from ..errors import MckdError
    from ..jsonio import check_out_path, read_jsonl
    from ..teacher import TeacherConfig, run_teacher
    from ..teacher.run import summary_line

    check_out_path(args.out, "file")  # before the teacher spends minutes, not after
    demos = read_jsonl(args.demos)
    inputs = read_jsonl(args.input)
    if args.limit is not None:
        if args.limit < 0:
            raise MckdError(f"--limit must be >= 0, got {args.limit}")
        inputs = inputs[:args.limit]
    instruction = args.instruction
    if instruction.startswith("@"):
        try:
            instruction = Path(instruction[1:]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise MckdError(f"--instruction {args.instruction}: cannot read it ({e})") from None
    cfg = TeacherConfig(format=args.format, shots=args.shots,
                        demo_selection=args.demo_selection, seed=args.seed,
                        parallel=args.parallel, threads=args.threads,
                        schedule=args.schedule, constrained=not args.unconstrained, n_ctx=args.n_ctx,
                        temperature=args.temperature, max_new_tokens=args.max_new_tokens,
                        progress=not args.no_progress, url=args.teacher_url or "",
                        server_model=args.server_model, api_key_env=args.api_key_env,
                        concurrency=args.concurrency, timeout_s=args.timeout,
                        retries=args.retries, grammar=args.grammar,
                        max_broken=args.max_broken,
                        shared_cache=not args.no_shared_cache, instruction=instruction,
                        prompt_format=args.prompt_format, samples=args.samples,
                        vote_temperature=args.vote_temperature,
                        vote_threshold=args.vote_threshold,
                        vote_demo_words=args.vote_demo_words, demo_words=args.demo_words)
    if args.teacher_url and args.local_teacher:
        raise MckdError("give --local-teacher or --teacher-url, not both")
    s = run_teacher(args.local_teacher, demos, inputs, args.out, cfg)
    if args.no_progress:  # with progress on, run_teacher already printed this line
        print(summary_line(s), file=sys.stderr)
    return 0

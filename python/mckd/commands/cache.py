"""`mckd cache`: see and prune the shared teacher cache (mckd.teacher.store)."""

from __future__ import annotations


def add_arguments(parser):
    parser.add_argument("action", choices=["info", "prune"], nargs="?", default="info",
                        help="info (default): outputs per teacher model; prune: delete outputs")
    parser.add_argument("--model", default=None, metavar="TEXT",
                        help="only the models whose name contains TEXT (as info shows it): info lists "
                             "them, prune deletes their outputs")
    parser.add_argument("--unused-days", type=float, default=None, metavar="N",
                        help="prune: only outputs no run has used for N days")
    parser.add_argument("--all", action="store_true",
                        help="prune: everything (required when neither filter is given)")


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def run(args) -> int:
    import time

    from ..errors import MckdError
    from ..teacher.store import ENV, Store, store_path

    path = store_path()
    if path is None:
        print(f"the shared teacher cache is off ({ENV}=off)")
        return 0
    if not path.exists():
        print(f"{path}: empty (no teacher output stored yet)")
        return 0
    try:
        store = Store(path)
        store.summary()  # reads a page: a damaged file fails here, not halfway through a prune
    except MckdError as e:
        if args.action == "prune" and args.all and args.model is None and args.unused_days is None:
            # nothing in it can be trusted or kept: free it whole (runs rebuild it as they go)
            for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                p.unlink(missing_ok=True)
            print(f"{path}: damaged ({e}); removed it, later runs start a new one")
            return 0
        raise MckdError(f"{e}; `mckd cache prune --all` removes it") from None
    try:
        if args.action == "prune":
            if args.model is None and args.unused_days is None and not args.all:
                raise MckdError("prune what? give --model TEXT, --unused-days N, or --all")
            n = store.prune(model=args.model, unused_days=args.unused_days)
            print(f"{path}: deleted {n} teacher output(s)")
        rows = store.summary()
        day = time.strftime
        total = f"{path}: {sum(r['outputs'] for r in rows)} outputs, " \
                f"{_size(path.stat().st_size)} on disk"
        if args.action == "info" and args.model is not None:
            rows = [r for r in rows if args.model in r["model"]]
            total += f"; {sum(r['outputs'] for r in rows)} of them from models matching " \
                     f"{args.model!r}"
        print(total)
        for r in rows:
            print(f"  {r['outputs']:>7}  {_size(r['bytes']):>9}  stored since "
                  f"{day('%Y-%m-%d', time.localtime(r['created']))}, last used "
                  f"{day('%Y-%m-%d %H:%M', time.localtime(r['used']))}  {r['model']}")
    finally:
        store.close()
    return 0

"""`melody eval`: how good a model and its music are, beside an n-gram baseline and the real pieces.

Without DATA the model is scored on its own held-out pieces (the validation split recorded
in its config.json, recomputed from its training corpus). DATA files are read and tokenized
with the model's tokenizer, so a file can never carry another tokenizer's tokens; what can
is a token cache folder (`melody tokenize --out CACHE`), which is refused with a message.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval", help="score a model: bits per note beside an n-gram baseline, music statistics, novelty",
        description="Score a model on held-out pieces (bits per token and per note, beside a "
                    "Kneser-Ney n-gram baseline on the same tokens), compare the music statistics "
                    "of generated pieces with the real ones at several temperatures, and flag "
                    "generated near-copies of training pieces.")
    parser.add_argument("data", nargs="*", metavar="DATA",
                        help="music files or folders to score (default: the model's held-out split)")
    parser.add_argument("--model", metavar="DIR", default=None,
                        help="model folder (default: the shipped default model)")
    parser.add_argument("--num", type=int, default=None, metavar="N",
                        help="pieces to generate per temperature (default 50; 0: likelihood only)")
    parser.add_argument("--temperatures", default="0.8,1.0,1.2", metavar="T,T,...",
                        help="sampling temperatures to compare (default 0.8,1.0,1.2)")
    parser.add_argument("--seed", type=int, default=0, help="generation seed (default 0)")
    parser.add_argument("--bars", type=int, default=None, metavar="B",
                        help="bars per generated piece (default: the real pieces' median)")
    parser.add_argument("--ngram-order", type=int, default=None, metavar="N",
                        help="order of the Kneser-Ney baseline (default 5)")
    parser.add_argument("--plots", type=Path, metavar="DIR", help="write a PNG per statistic here")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write every figure as JSON here")
    parser.add_argument("--record", action="store_true",
                        help="store bits per note in the model's config.json (its \"evaluation\" section)")
    parser.add_argument("--workers", type=int, metavar="N", help="processes for tokenizing DATA")
    parser.add_argument("--force", action="store_true", help="replace existing --json and --plots files")
    parser.set_defaults(run=run)


def parse_temperatures(text: str) -> list[float]:
    """'0.8,1.0,1.2' -> [0.8, 1.0, 1.2]; UsageError for anything else."""
    from melody.errors import UsageError

    values = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            raise UsageError(f"--temperatures: {part.strip()!r} is not a number") from None
        if not value > 0 or value != value or value == float("inf"):
            raise UsageError(f"--temperatures: {part.strip()} must be a positive number")
        values.append(value)
    return values


def run(args: argparse.Namespace) -> int:
    from melody.errors import UsageError
    from melody.evaluation.evaluate import DEFAULT_NUM
    from melody.evaluation.ngram import DEFAULT_ORDER

    temperatures = parse_temperatures(args.temperatures)
    num = DEFAULT_NUM if args.num is None else args.num
    if num < 0:
        raise UsageError(f"--num must be 0 or more, not {num}")
    order = DEFAULT_ORDER if args.ngram_order is None else args.ngram_order
    if not 1 <= order <= 12:
        raise UsageError(f"--ngram-order must be between 1 and 12, not {order}")
    if args.bars is not None and not 1 <= args.bars <= 1024:
        raise UsageError(f"--bars must be between 1 and 1024, not {args.bars}")
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be at least 1, not {args.workers}")
    for path in (args.json,):
        if path is not None and os.path.lexists(path) and not args.force:
            raise UsageError(f"{path}: already exists (use --force to replace it)")
    if args.plots is not None and args.plots.exists() and not args.plots.is_dir():
        raise UsageError(f"{args.plots}: --plots must be a folder, and this is a file")

    from melody.evaluation.data import check_data_paths, held_out_and_training, load_data

    if args.data:
        check_data_paths(args.data)  # before loading a model: a wrong path fails fast

    from melody.evaluation.evaluate import evaluate, generation_sampler, statistic_plots
    from melody.generation import resolve_model

    model = resolve_model(args.model or "default")
    say = (lambda message: print(f"eval: {message}", file=sys.stderr)) if sys.stderr.isatty() else None
    split = held_out_and_training(model, workers=args.workers)
    if args.data:
        real = load_data(args.data, model.tokenizer, workers=args.workers)
        description = f"{len(real)} pieces from {', '.join(args.data)}"
    else:
        if split is None:
            raise UsageError(f"{model.folder}: its training data cannot be found to recompute the "
                             f"held-out split; pass the music files to score as DATA")
        real = split.held_out
        description = f"the model's {len(real)} held-out pieces"
    training = split.training if split is not None else []
    if not training:
        print("eval: the model's training pieces are not available: no n-gram baseline or novelty check",
              file=sys.stderr)
    if args.plots is not None and num > 0 and not args.force:
        from melody.charts import safe_name
        from melody.evaluation.stats import PLOTTED

        for statistic in PLOTTED:
            target = args.plots / f"{safe_name(statistic.name)}.png"
            if os.path.lexists(target):
                raise UsageError(f"{target}: already exists (use --force to replace it)")

    report = evaluate(model, real, training, sample=generation_sampler(model), num=num, temperatures=temperatures,
                      seed=args.seed, ngram_order=order, bars=args.bars, name=model.name, data=description,
                      progress=say)
    print(report.format())
    written = []
    from melody.files import OutputBatch

    with OutputBatch(overwrite=args.force) as batch:  # the report and its plots, all or none
        if args.json is not None:
            text = json.dumps(_plain(report.to_dict()), indent=1, allow_nan=False) + "\n"
            written.append(str(batch.write(args.json, text.encode("utf-8"))))
        if args.plots is not None:
            for stem, data in statistic_plots(report).items():
                written.append(str(batch.write(args.plots / f"{stem}.png", data)))
    if args.record:
        from melody.model_folder import update_config

        result = report.likelihood[next(iter(report.likelihood))]
        update_config(model.folder, {"evaluation": {
            "data": description, "bits_per_note": result.bits_per_note,
            "bits_per_token": result.bits_per_token, "nats_per_token": result.nats_per_token,
            "pieces": result.pieces, "method": result.method,
            "baselines": {name: r.bits_per_note for name, r in list(report.likelihood.items())[1:]}}})
        written.append(str(model.folder / "config.json"))
    for path in written:
        print(f"wrote {path}")
    return 0


def _plain(value: object) -> object:
    """JSON-safe data: numpy numbers as Python numbers, NaN and infinities as null."""
    import math

    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    try:
        number = float(value)  # floats and numpy scalars
    except (TypeError, ValueError):
        return str(value)
    return number if math.isfinite(number) else None

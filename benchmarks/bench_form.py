"""Do generated tunes hold together? Form statistics and a classifier two-sample test.

    python benchmarks/bench_form.py [--model models/default] [--num 100] [--bars 32] [--seed 1] [--threads 2]
                                    [--temperature T] [--top-p P] [--cadence corpus|tonic|off]
                                    [--real-draws N]

Samples `--num` tunes of `--bars` bars through `melody.generation.generate` with the sampling
defaults (or the --temperature, --top-p and --cadence given), then prints, for each form
statistic (`melody/evaluation/form.py`), the generated figure beside the model's held-out real
tunes, beside all its real tunes (held-out and training), and beside the real tunes of about
the generated length (`--bars` ± 1/8: a real tune of 16 bars brings a part back half as often
as one of 32), each with the real set's 5-95% band: for a
rate (a yes or no per tune) and a mean of bar shares, where the figure of `--num` real tunes
drawn at random falls; for a per-tune value, the spread of the real tunes' values.

Then a classifier two-sample test (`melody/evaluation/discriminator.py`): a logistic
regression on features of the first `--bars` bars, `--folds`-fold cross-validated, tells
`--num` generated tunes from as many real tunes drawn at random (seeded); the accuracy per
feature group says what gives the generated tunes away, beside the accuracy a guess reaches
(its 95th percentile). The real pieces are the model's tokenized corpus decoded, as
`melody eval` reads them. The output is Markdown, ready to paste into benchmarks/REPORT.md.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from melody.evaluation.discriminator import GROUPS, two_sample_test  # noqa: E402
from melody.evaluation.form import length_in_bars  # noqa: E402
from melody.evaluation.stats import FORM_STATISTICS, Comparison, compare_all  # noqa: E402
from melody.generation.cadence import length_window  # noqa: E402


def shown(path: str) -> str:
    """A model folder as the repository names it (relative to its root where it lies inside)."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else path


def figure(comparison: Comparison, generated: bool = False) -> str:
    """A comparison's generated or real figure: a share in percent, a mean, or a mean±sd."""
    value = comparison.generated_mean if generated else comparison.real_mean
    if comparison.kind == "rate":
        return f"{100 * value:.0f}%"
    if comparison.kind == "mean":
        return f"{value:.3f}"
    spread = comparison.generated_std if generated else comparison.real_std
    return f"{value:.1f}±{spread:.1f}"


def band(comparison: Comparison) -> str:
    low, high = comparison.real_low, comparison.real_high
    if comparison.kind == "rate":
        return f"{100 * low:.0f}%..{100 * high:.0f}%"
    if comparison.kind == "mean":
        return f"{low:.3f}..{high:.3f}"
    return f"{low:.0f}..{high:.0f}"


def form_table(generated: list, held_out: list, everything: list, same_length: list, bars: int) -> list[str]:
    """A Markdown table: each form statistic, generated beside held-out real tunes, all real
    tunes, and the real tunes about as long as the generated ones."""
    low, high = length_window(bars)
    sets = [(f"held-out real ({len(held_out)})", held_out), (f"all real ({len(everything)})", everything)]
    if same_length:  # none at a length the corpus lacks
        sets.append((f"real of {low}..{high} bars ({len(same_length)})", same_length))
    groups = [compare_all(generated, real, FORM_STATISTICS) for _, real in sets]
    lines = [f"| statistic | generated ({len(generated)}) | " + " | ".join(f"{name} | 5-95% | inside" for name, _ in sets)
             + " |", "|---|---:|" + "---:|---:|:-:|" * len(sets)]
    for row in zip(*groups):
        cells = [f"{figure(c)} | {band(c)} | {'yes' if c.inside else 'NO'}" for c in row]
        lines.append(f"| {row[0].name} | {figure(row[0], generated=True)} | {' | '.join(cells)} |")
    return lines


def real_draws(args: argparse.Namespace, everything: list, same_length: list, low: int, high: int) -> list[str]:
    """How often `--real-draws` sets of `--num` real tunes, drawn from each reference set,
    have every form statistic inside that set's bands: the bar "every statistic inside" sets."""
    import numpy as np

    if args.real_draws <= 0 or len(same_length) <= args.num:  # a draw of all of them would always fit
        return []
    rng = np.random.default_rng(args.seed)
    shares = []
    for reference in (everything, same_length):
        hits = 0
        for _ in range(args.real_draws):
            sample = [reference[i] for i in rng.choice(len(reference), min(args.num, len(reference)), replace=False)]
            hits += all(c.inside for c in compare_all(sample, reference, FORM_STATISTICS))
        shares.append(100 * hits / args.real_draws)
    return [f"Real tunes against the same bands: of {args.real_draws} sets of {args.num} drawn at random, "
            f"{shares[0]:.0f}% have every statistic inside the bands of all real tunes, {shares[1]:.0f}% "
            f"(drawn from the tunes of {low}..{high} bars) inside those of the tunes of {low}..{high} bars.", ""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "default"), help="model folder")
    parser.add_argument("--num", type=int, default=100, help="tunes to generate (default 100)")
    parser.add_argument("--bars", type=int, default=32, help="bars per generated tune and classified (default 32)")
    parser.add_argument("--seed", type=int, default=1, help="generation seed (default 1)")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--temperature", type=float, default=None, help="sampling temperature (default: melody's)")
    parser.add_argument("--top-p", type=float, default=None, help="nucleus sampling mass (default: melody's)")
    parser.add_argument("--cadence", choices=("corpus", "tonic", "off"), default=None,
                        help="where tunes end (default: melody's)")
    parser.add_argument("--real-draws", type=int, default=40, metavar="N",
                        help="draw N sets of --num real tunes (default 40) and say how often one has every "
                             "statistic inside the bands (what 'every statistic inside' asks of real music)")
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    from common import model_and_split

    from melody.generation import GenerationSettings, generate

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    loaded = model_and_split(args.model, "bench_form")
    if loaded is None:
        return 1
    model, split = loaded
    decode = model.tokenizer.decode
    held_out = [decode([int(t) for t in p.ids]) for p in split.held_out]
    everything = held_out + [decode([int(t) for t in p.ids]) for p in split.training]
    low, high = length_window(args.bars)
    same_length = [piece for piece in everything if low <= length_in_bars(piece) <= high]

    sampling = time.perf_counter()
    asked = {name: value for name, value in [("temperature", args.temperature), ("top_p", args.top_p),
                                             ("cadence", args.cadence)] if value is not None}
    settings = GenerationSettings(num=args.num, bars=args.bars, seed=args.seed, **asked)
    generated = [take.piece for take in generate(model, settings)]
    sampling = time.perf_counter() - sampling

    rng = np.random.default_rng(args.seed)
    real_sample = [everything[i] for i in rng.choice(len(everything), min(args.num, len(everything)), replace=False)]
    test = two_sample_test(real_sample, generated, bars=args.bars, folds=args.folds, seed=args.seed)
    alike_test = None  # the classifier against tunes of the same length, where there are enough
    if len(same_length) >= max(args.folds, args.num):
        alike = [same_length[i] for i in rng.choice(len(same_length), args.num, replace=False)]
        alike_test = two_sample_test(alike, generated, bars=args.bars, folds=args.folds, seed=args.seed)

    command = "python benchmarks/bench_form.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    lines = ["## Form: do generated tunes hold together?", "", "```bash", command.strip(), "```", "",
             f"Model `{shown(args.model)}` "
             f"({model.family}, {model.tokenizer.name} tokens): {len(generated)} tunes of {args.bars} bars, seed "
             f"{args.seed}, temperature {settings.temperature:g}, top-p {settings.top_p:g}"
             f", cadence {settings.cadence} "
             f"(sampled in {sampling:.1f} s on {args.threads} threads). Rates are shares of tunes; their "
             f"5-95% (and that of padded bars and meter fill, judged by the mean) is where {len(generated)} "
             f"real tunes drawn at random put the figure; length in bars is set by `--bars` here, telling only "
             f"for a model that ends its tunes itself.", "",
             *form_table(generated, held_out, everything, same_length, args.bars), "",
             f"Classifier two-sample test: logistic regression (L2, numpy), {test.folds}-fold cross-validated, "
             f"on the first {test.bars} bars of {test.generated} generated and {test.real} real tunes (drawn "
             f"at random from all {len(everything)}); 50% means it cannot tell them apart, and a guess "
             f"reaches {100 * test.chance_high:.0f}% one time in twenty.", "",
             "| features | accuracy |", "|---|---:|",
             *[f"| {group} | {100 * test.by_group[group]:.0f}% |" for group in GROUPS],
             f"| all together | **{100 * test.accuracy:.0f}%** |",
             f"| all together, against real tunes of {low}..{high} bars | "
             + (f"{100 * alike_test.accuracy:.0f}% |" if alike_test else
                f"(only {len(same_length)} real tunes of that length) |"), "",
             *real_draws(args, everything, same_length, low, high),
             f"({time.perf_counter() - started:.0f} s in all.)"]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

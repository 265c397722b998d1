"""The blocking gates against the null: how often a model of a pure random walk is promoted,
and how often a model of a market with a known edge is.

In process, with the pipeline's domain code and no Dagster: per seed, synthetic bars
(`trade2026_assets.synthetic`) of the demo's symbols with lag-1 autocorrelation
`predictability`, the strategy's indicators, training set and time split, its walk-forward
folds, one fit per fold, and the gates (`trade2026_assets.ml.promotion.judge`) with the
declaration's defaults. A seed "passes" when both blocking gates pass. Printed per setting:
the pass rate with its 95 % Clopper-Pearson interval. Targets: under the null (0) at most
1 % with the interval's upper bound at most 2.5 %; at 0.1 at least 90 %.

Usage: python -m bench.null_gates [--quick] [--strategy default_ml_strategy] [--bars 5000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import polars as pl

from bench.common import write_results
from trade2026_assets.settings import DEMO_SYMBOLS, STRATEGIES_DIR
from trade2026_assets.strategy.declaration import DEFAULT_STRATEGY, StrategyDeclaration

# (predictability, seeds): the null needs the most seeds, its rate is the one promised.
SETTINGS = ((0.0, 200), (0.05, 100), (0.1, 100))
QUICK = ((0.0, 4), (0.1, 2))
FALSE_PROMOTION_MAX = 0.01
FALSE_PROMOTION_UPPER_MAX = 0.025
POWER_MIN = 0.90
HOURLY_BARS_PER_YEAR = 365.25 * 24


def clopper_pearson(passes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The exact binomial interval of a pass rate."""
    from scipy.stats import beta

    alpha = 1 - confidence
    lower = 0.0 if passes == 0 else float(beta.ppf(alpha / 2, passes, n - passes + 1))
    upper = 1.0 if passes == n else float(beta.ppf(1 - alpha / 2, passes + 1, n - passes))
    return lower, upper


def declaration_for(name: str) -> StrategyDeclaration:
    """The shipped declaration, on one XGBoost thread (the bench runs seeds one by one)."""
    from trade2026_assets.strategy.declaration import XgboostModel, parse_declaration

    path = STRATEGIES_DIR / f"{name}.yaml"
    declaration = parse_declaration(path.read_text(), origin=str(path))
    if isinstance(declaration.model, XgboostModel):
        params = declaration.model.params.model_copy(update={"nthread": 1})
        model = declaration.model.model_copy(update={"params": params})
        declaration = declaration.model_copy(update={"model": model})
    return declaration


def training_rows(
    declaration: StrategyDeclaration, *, seed: int, bars: int, predictability: float
) -> pl.DataFrame:
    """The strategy's training set over synthetic bars, cut as the pipeline cuts it."""
    from trade2026_assets.ml.training_set import feature_frame, split_by_time
    from trade2026_assets.synthetic import synthetic_bars
    from trade2026_assets.technical_indicators import compute_indicators

    symbols = declaration.universe.symbols or DEMO_SYMBOLS
    frame = pl.concat(
        synthetic_bars(symbol, seed=seed, n_bars=bars, predictability=predictability)
        for symbol in symbols
    )
    indicators = compute_indicators(
        frame.select("symbol", "ts", "close", "high", "low", "volume"), declaration.indicators
    ).with_columns(pl.col("symbol").cast(pl.String))
    rows = feature_frame(indicators, declaration.label.horizon, declaration.features)
    split = split_by_time(
        rows.with_columns(pl.col("symbol").cast(pl.String)), declaration.training_set_params()
    )
    return split.join(indicators.select("symbol", "ts", "close"), on=["symbol", "ts"])


def run_seed(
    declaration: StrategyDeclaration, *, seed: int, bars: int, predictability: float
) -> dict[str, Any]:
    from trade2026_assets.ml import promotion

    rows = training_rows(declaration, seed=seed, bars=bars, predictability=predictability)
    # The holdout (test split) is dropped: the gates judge the walk-forward folds only.
    evaluation = promotion.walk_forward(
        declaration, rows, periods_per_year=HOURLY_BARS_PER_YEAR
    ).evaluation
    judgements = {j.name: j.passed for j in promotion.judge(evaluation, declaration.gates)}
    return {
        "seed": seed,
        "predictability": predictability,
        "passed": all(judgements.values()),
        **{f"{name}_passed": passed for name, passed in judgements.items()},
        "wf_auc_mean": evaluation.mean("auc"),
        "wf_auc_se": evaluation.se("auc"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seeds: a smoke test")
    parser.add_argument("--strategy", default=DEFAULT_STRATEGY)
    parser.add_argument("--bars", type=int, default=5000, help="bars per symbol and seed")
    parser.add_argument("--results", default="null_gates", help="results file name")
    args = parser.parse_args()

    declaration = declaration_for(args.strategy)
    settings = QUICK if args.quick else SETTINGS
    rows: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    started = time.perf_counter()
    for predictability, seeds in settings:
        outcomes = [
            run_seed(declaration, seed=seed, bars=args.bars, predictability=predictability)
            for seed in range(1, seeds + 1)
        ]
        runs.extend(outcomes)
        passes = sum(outcome["passed"] for outcome in outcomes)
        lower, upper = clopper_pearson(passes, seeds)
        rows.append(
            {
                "predictability": predictability,
                "seeds": seeds,
                "passes": passes,
                "pass_rate": passes / seeds,
                "ci95_lower": lower,
                "ci95_upper": upper,
            }
        )
    seconds = time.perf_counter() - started
    print(f"{'predictability':>14} {'seeds':>6} {'passes':>7} {'rate':>7} {'95% interval':>17}")
    for row in rows:
        print(
            f"{row['predictability']:>14.2f} {row['seeds']:>6} {row['passes']:>7} "
            f"{row['pass_rate']:>7.1%} [{row['ci95_lower']:>6.1%}, {row['ci95_upper']:>6.1%}]"
        )
    null = rows[0]
    power = [row for row in rows if row["predictability"] == 0.1]
    verdict = {
        "false_promotion_ok": null["pass_rate"] <= FALSE_PROMOTION_MAX
        and null["ci95_upper"] <= FALSE_PROMOTION_UPPER_MAX,
        "power_ok": bool(power) and power[0]["pass_rate"] >= POWER_MIN,
    }
    print(f"targets: {verdict} ({seconds:.0f} s)")
    path = write_results(
        args.results if not args.quick else f"{args.results}-quick",
        rows,
        strategy=args.strategy,
        bars_per_symbol=args.bars,
        symbols=list(declaration.universe.symbols or DEMO_SYMBOLS),
        gates=declaration.gates.model_dump(),
        evaluation=declaration.evaluation.model_dump(),
        seconds=round(seconds, 1),
        targets=verdict,
        runs=runs,
    )
    print(f"results: {Path(path)}")


if __name__ == "__main__":
    main()

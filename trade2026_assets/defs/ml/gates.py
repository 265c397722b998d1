"""The ML quality gates as asset check results, each with its evidence as metadata: no
leakage across split boundaries; on the walk-forward folds, beating the majority class and
chance by k standard errors; against the current champion, a paired comparison on the same
folds (by AUC, then by the walk-forward Sharpe with its deflated Sharpe ratio). The holdout
(the test split) is reported by the model asset and judged by none of these."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import dagster as dg
import polars as pl

from trade2026_assets.defs.ml.metadata import records_table
from trade2026_assets.ml import promotion
from trade2026_assets.ml.training_set import boundary_gaps
from trade2026_assets.ml.walk_forward import Fold
from trade2026_assets.strategy.declaration import Gates, StrategyDeclaration
from trade2026_assets.tracking import MlflowResource

CHAMPION_ALIAS = "champion"
CHALLENGER_ALIAS = "challenger"
MODEL_GATES = (promotion.BASELINE_CHECK, promotion.AUC_CHECK)
CHAMPION_CHECK = "beats_champion"
CHAMPION_SHARPE_CHECK = "beats_champion_sharpe"


def no_leakage_result(frame: pl.DataFrame, horizon: int) -> dg.AssetCheckResult:
    gaps = boundary_gaps(frame)
    worst = min(gaps.values())
    return dg.AssetCheckResult(
        check_name="no_leakage",
        passed=worst >= horizon,
        metadata={
            "min_gap_bars": worst,
            "threshold_bars": horizon,
            "gaps_bars": dg.MetadataValue.json(gaps),
            "rule": "every split boundary leaves at least `horizon` bars between the last "
            "row before it and the first row after it",
        },
    )


def model_check_specs(asset: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            promotion.BASELINE_CHECK,
            asset=asset,
            blocking=True,
            description="mean walk-forward fold accuracy gain over always predicting the "
            "majority class, less k standard errors, exceeds the declared margin",
        ),
        dg.AssetCheckSpec(
            promotion.AUC_CHECK,
            asset=asset,
            blocking=True,
            description="mean walk-forward fold AUC, less k standard errors, exceeds 0.5 by "
            "the declared margin",
        ),
        dg.AssetCheckSpec(
            CHAMPION_CHECK,
            asset=asset,
            blocking=False,
            description="paired over the same walk-forward folds, the candidate's fold AUCs "
            "beat those of the champion's configuration refitted on them, by champion_k "
            "standard errors and the declared margin",
        ),
        dg.AssetCheckSpec(
            CHAMPION_SHARPE_CHECK,
            asset=asset,
            blocking=False,
            description="over a champion: the walk-forward Sharpe's deflated Sharpe ratio "
            "(trials: the registered versions) reaches min_deflated_sharpe and the Sharpe "
            "beats the champion's on the same folds",
        ),
    ]


def fold_table(evaluation: promotion.Evaluation) -> dg.MetadataValue:
    return records_table([score.row() for score in evaluation.scores])


def model_gates(evaluation: promotion.Evaluation, gates: Gates) -> list[dg.AssetCheckResult]:
    """The blocking gates on the walk-forward folds (`promotion.judge`), with the folds."""
    table = fold_table(evaluation)
    return [
        dg.AssetCheckResult(
            check_name=judgement.name,
            passed=judgement.passed,
            metadata={**judgement.metadata, "folds_table": table},
        )
        for judgement in promotion.judge(evaluation, gates)
    ]


@dataclass(frozen=True)
class Champion:
    """The version under the `champion` alias: its declaration (from its run's
    `strategy.json`) when it has one, else None."""

    version: str
    declaration: StrategyDeclaration | None
    why_not: str = ""


def load_champion_declaration(
    mlflow: MlflowResource, declaration: StrategyDeclaration
) -> Champion | None:
    """The champion's version and the declaration its run logged, or None without one."""
    from mlflow.exceptions import MlflowException

    name = declaration.registered_model
    client = mlflow.client()
    try:
        champion = client.get_model_version_by_alias(name, CHAMPION_ALIAS)
    except MlflowException as exc:
        if exc.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
            return None
        raise
    version = str(champion.version)
    if not champion.run_id:
        return Champion(version, None, "its version names no MLflow run")
    try:
        with mlflow.active() as mlflow_module:
            logged = mlflow_module.artifacts.load_dict(f"runs:/{champion.run_id}/strategy.json")
        return Champion(version, StrategyDeclaration.model_validate(logged))
    except (MlflowException, OSError, ValueError, json.JSONDecodeError) as exc:
        return Champion(version, None, f"its run's strategy.json cannot be read: {exc}")


def registered_versions(mlflow: MlflowResource, declaration: StrategyDeclaration) -> int:
    """Every trained version of the strategy is a trial (the registry keeps them all)."""
    # MLflow's filter is a parsed string, not bound parameters: safe because a strategy's
    # name matches NAME_PATTERN (no quotes).
    name = declaration.registered_model
    return max(1, len(mlflow.client().search_model_versions(f"name='{name}'")))


@dataclass(frozen=True)
class ChampionEvidence:
    """The champion's configuration on the candidate's folds, or why it could not be."""

    version: str
    evaluation: promotion.Evaluation | None
    why_not: str = ""


def champion_on_folds(
    champion: Champion | None,
    declaration: StrategyDeclaration,
    folds: list[Fold],
    periods_per_year: float,
) -> ChampionEvidence | None:
    if champion is None:
        return None
    if champion.declaration is None:
        return ChampionEvidence(champion.version, None, champion.why_not)
    why_not = promotion.comparable(declaration, champion.declaration)
    if why_not is not None:
        return ChampionEvidence(champion.version, None, why_not)
    return ChampionEvidence(
        champion.version,
        promotion.champion_on_folds(
            declaration, champion.declaration, folds, periods_per_year=periods_per_year
        ),
    )


def _paired_table(candidate: promotion.Evaluation, champion: promotion.Evaluation) -> Any:
    return records_table(
        [
            {
                "fold": mine.fold,
                "candidate_auc": mine.auc,
                "champion_auc": theirs.auc,
                "auc_gain": mine.auc - theirs.auc,
                "candidate_sharpe": mine.sharpe,
                "champion_sharpe": theirs.sharpe,
                "champion_trades": theirs.trades,
            }
            for mine, theirs in zip(candidate.scores, champion.scores, strict=True)
        ]
    )


def champion_comparison(
    champion: ChampionEvidence | None, candidate: promotion.Evaluation, gates: Gates
) -> dg.AssetCheckResult:
    """`beats_champion`: the paired fold-by-fold AUC comparison on the same folds."""
    mean_auc = candidate.mean("auc")
    if champion is None:
        return dg.AssetCheckResult(
            check_name=CHAMPION_CHECK,
            passed=True,
            metadata={"champion": "none yet", "outcome": "no champion", "wf_auc_mean": mean_auc},
        )
    if champion.evaluation is None:
        return dg.AssetCheckResult(
            check_name=CHAMPION_CHECK,
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"not comparable with champion version {champion.version}: "
            f"{champion.why_not}; swap it by hand if it should go live",
            metadata={
                "outcome": "not comparable",
                "champion_version": champion.version,
                "why": champion.why_not,
                "wf_auc_mean": mean_auc,
            },
        )
    theirs = champion.evaluation
    paired = promotion.paired_outcome(
        candidate.values("auc").tolist(),
        theirs.values("auc").tolist(),
        k=gates.champion_k,
        margin=gates.champion_margin,
    )
    return dg.AssetCheckResult(
        check_name=CHAMPION_CHECK,
        passed=paired.outcome == "won",
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{paired.outcome} against champion version {champion.version} "
        f"(paired fold AUC gain {paired.mean_gain:+.4f} ± {paired.se:.4f} over "
        f"{len(paired.gains)} folds, k {gates.champion_k:g}, margin {gates.champion_margin:g})",
        metadata={
            "outcome": paired.outcome,
            "champion_version": champion.version,
            "candidate_wf_auc": mean_auc,
            "champion_wf_auc": theirs.mean("auc"),
            "auc_gain": paired.mean_gain,
            "auc_gain_se": paired.se,
            "k": gates.champion_k,
            "margin": gates.champion_margin,
            "folds_table": _paired_table(candidate, theirs),
        },
    )


def champion_sharpe_comparison(
    champion: ChampionEvidence | None,
    candidate: promotion.Evaluation,
    gates: Gates,
    trials: int,
) -> dg.AssetCheckResult:
    """`beats_champion_sharpe`: the candidate's walk-forward Sharpe, deflated for the
    strategy's trials, and its Sharpe against the champion's on the same folds."""
    from trade2026_assets.ml.sharpe_statistics import deflated_sharpe_ratio

    dsr = float(deflated_sharpe_ratio(candidate.returns, trials=trials))
    deflated_ok = dsr >= gates.min_deflated_sharpe
    evidence: dict[str, Any] = {
        "candidate_sharpe": candidate.sharpe,
        "deflated_sharpe": dsr,
        "min_deflated_sharpe": gates.min_deflated_sharpe,
        "trials": trials,
        "candidate_trades": int(sum(score.trades for score in candidate.scores)),
    }
    if champion is None:
        # A first deployment is decided by the blocking gates; the DSR is reported.
        return dg.AssetCheckResult(
            check_name=CHAMPION_SHARPE_CHECK,
            passed=True,
            metadata={"champion": "none yet", "outcome": "no champion", **evidence},
        )
    evidence["champion_version"] = champion.version
    if champion.evaluation is None:
        return dg.AssetCheckResult(
            check_name=CHAMPION_SHARPE_CHECK,
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"not comparable with champion version {champion.version}: "
            f"{champion.why_not}",
            metadata={"outcome": "not comparable", "why": champion.why_not, **evidence},
        )
    theirs = champion.evaluation
    evidence["champion_sharpe"] = theirs.sharpe
    if not theirs.traded:
        # Zero against zero is no contest: a champion that never traded is not beaten.
        outcome, passed = "champion never traded", deflated_ok
    else:
        beats = candidate.sharpe > theirs.sharpe
        outcome = "won" if beats and deflated_ok else "lost" if not beats else "not deflated"
        passed = beats and deflated_ok
    return dg.AssetCheckResult(
        check_name=CHAMPION_SHARPE_CHECK,
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{outcome}: walk-forward Sharpe {candidate.sharpe:.2f} vs champion "
        f"version {champion.version}'s {theirs.sharpe:.2f}, deflated Sharpe {dsr:.3f} "
        f"(needs {gates.min_deflated_sharpe:g}, {trials} trials)",
        metadata={"outcome": outcome, **evidence},
    )

"""The Sharpe statistics agree with hand arithmetic and behave as the papers say."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from trade2026_assets.ml.sharpe_statistics import (
    annualize,
    block_bootstrap_interval,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    per_bar_sharpe,
    probabilistic_sharpe_ratio,
    sharpe_standard_error,
    stationary_bootstrap_indices,
)

SMALL = np.array([0.01, -0.02, 0.03, 0.0, 0.02])


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def test_hand_computed_psr_on_a_small_series() -> None:
    # mean 0.008, sample std sqrt(0.00148 / 4) = sqrt(0.00037).
    sharpe = 0.008 / math.sqrt(0.00037)
    deviations = SMALL - 0.008
    m2 = float(np.mean(deviations**2))  # 0.000296
    skew = float(np.mean(deviations**3)) / m2**1.5
    kurtosis = float(np.mean(deviations**4)) / m2**2
    error = math.sqrt((1 - skew * sharpe + (kurtosis - 1) / 4 * sharpe**2) / 4)
    assert per_bar_sharpe(SMALL) == pytest.approx(sharpe)
    assert sharpe_standard_error(SMALL) == pytest.approx(error)
    assert probabilistic_sharpe_ratio(SMALL) == pytest.approx(_normal_cdf(sharpe / error))
    assert probabilistic_sharpe_ratio(SMALL, 0.1) == pytest.approx(
        _normal_cdf((sharpe - 0.1) / error)
    )


def test_normal_returns_have_lo_standard_error() -> None:
    returns = np.random.default_rng(1).normal(0.05, 1.0, size=200_000)
    sharpe = per_bar_sharpe(returns)
    expected = math.sqrt((1 + sharpe**2 / 2) / (returns.shape[0] - 1))
    assert sharpe_standard_error(returns) == pytest.approx(expected, rel=1e-2)


def test_skew_and_fat_tails_widen_the_error_of_a_positive_sharpe() -> None:
    rng = np.random.default_rng(2)
    # Small frequent gains, rare large losses: negative skew, high kurtosis.
    returns = np.where(rng.random(5000) < 0.02, -0.3, 0.01) + rng.normal(0, 0.001, 5000)
    sharpe = per_bar_sharpe(returns)
    assert sharpe > 0
    normal = math.sqrt((1 + sharpe**2 / 2) / (returns.shape[0] - 1))
    assert sharpe_standard_error(returns) > 1.1 * normal


def test_expected_max_sharpe_by_hand() -> None:
    assert expected_max_sharpe(1, 0.04) == 0.0
    assert expected_max_sharpe(0, 0.04) == 0.0
    # N = 10: Phi^-1(0.9) = 1.2815516, Phi^-1(1 - 1/(10 e)) = Phi^-1(0.963212) = 1.7894.
    from scipy.stats import norm

    gamma = 0.5772156649015329
    by_hand = 0.2 * ((1 - gamma) * 1.2815515655446004 + gamma * norm.ppf(1 - 1 / (10 * math.e)))
    assert expected_max_sharpe(10, 0.04) == pytest.approx(by_hand)
    assert norm.ppf(1 - 1 / (10 * math.e)) == pytest.approx(1.7894, abs=1e-3)
    assert expected_max_sharpe(100, 0.04) > expected_max_sharpe(10, 0.04)


def test_deflated_sharpe_is_psr_for_one_trial_and_falls_with_trials() -> None:
    returns = np.random.default_rng(3).normal(0.02, 1.0, size=2000)
    assert deflated_sharpe_ratio(returns, 1) == pytest.approx(probabilistic_sharpe_ratio(returns))
    values = [deflated_sharpe_ratio(returns, trials) for trials in (1, 2, 5, 20, 100)]
    assert all(a > b for a, b in itertools.pairwise(values))
    # Unknown trial variance: the estimator's own SE^2 stands in for it.
    error = sharpe_standard_error(returns)
    assert deflated_sharpe_ratio(returns, 20) == pytest.approx(
        probabilistic_sharpe_ratio(returns, expected_max_sharpe(20, error**2))
    )
    assert deflated_sharpe_ratio(returns, 20, 0.01) == pytest.approx(
        probabilistic_sharpe_ratio(returns, expected_max_sharpe(20, 0.01))
    )


def test_degenerate_series() -> None:
    assert math.isnan(sharpe_standard_error(np.array([0.01])))
    assert math.isnan(probabilistic_sharpe_ratio(np.array([])))
    flat = np.zeros(101)
    assert per_bar_sharpe(flat) == 0.0
    assert sharpe_standard_error(flat) == pytest.approx(math.sqrt(1 / 100))
    assert probabilistic_sharpe_ratio(flat) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="finite"):
        sharpe_standard_error(np.array([0.0, math.nan]))


def test_stationary_bootstrap_indices_are_wrapped_blocks() -> None:
    indices = stationary_bootstrap_indices(50, 200, 5.0, np.random.default_rng(0))
    assert indices.shape == (200, 50)
    assert indices.min() >= 0
    assert indices.max() < 50
    steps = (np.diff(indices, axis=1)) % 50
    continuing = steps == 1
    # A new block starts with probability 1/5 (a random start may also continue by chance).
    assert 0.75 < continuing.mean() < 0.85


def test_bootstrap_interval_contains_the_estimate_and_narrows_with_n() -> None:
    rng = np.random.default_rng(4)
    short = rng.normal(0.05, 1.0, size=500)
    long = rng.normal(0.05, 1.0, size=8000)
    low, high = block_bootstrap_interval(short, periods_per_year=252)
    assert low < annualize(per_bar_sharpe(short), 252) < high
    long_low, long_high = block_bootstrap_interval(long, periods_per_year=252)
    assert long_low < annualize(per_bar_sharpe(long), 252) < long_high
    assert long_high - long_low < 0.5 * (high - low)
    # Width close to the analytic one: 2 * 1.645 * SE, annualized.
    analytic = 2 * 1.6449 * annualize(sharpe_standard_error(long), 252)
    assert long_high - long_low == pytest.approx(analytic, rel=0.15)
    # Deterministic by seed; chunks do not change the result's shape.
    assert block_bootstrap_interval(short, periods_per_year=252) == (low, high)
    assert block_bootstrap_interval(short, periods_per_year=252, seed=1) != (low, high)


def test_bootstrap_keeps_serial_dependence() -> None:
    # Positive autocorrelation widens the Sharpe's distribution; long blocks see it, i.i.d.
    # resampling (blocks of one bar) does not.
    rng = np.random.default_rng(5)
    noise = rng.normal(0.0, 1.0, size=4000)
    returns = np.convolve(noise, np.ones(10) / 10, mode="valid") + 0.02
    iid = block_bootstrap_interval(returns, periods_per_year=1, mean_block=1)
    blocks = block_bootstrap_interval(returns, periods_per_year=1, mean_block=50)
    assert blocks[1] - blocks[0] > 2 * (iid[1] - iid[0])

"""How much a backtest's Sharpe ratio can be trusted: its standard error, the probabilistic
and deflated Sharpe ratios, and a block-bootstrap interval.

Conventions: a Sharpe ratio here is per bar (mean / standard deviation with ddof=1,
risk-free rate 0) unless a name says "annualized"; `annualize` scales it by
sqrt(periods per year). Skewness and kurtosis are the population (biased) moments, the
kurtosis non-excess (3 for a normal distribution), as in the papers below.

* Standard error (Lo 2002, with Mertens' adjustment for non-normal returns):
  SE = sqrt((1 - skew * SR + (kurtosis - 1) / 4 * SR^2) / (n - 1)).
* Probabilistic Sharpe ratio (Bailey & López de Prado 2012): the probability that the true
  Sharpe exceeds a benchmark SR*, PSR = Phi((SR - SR*) / SE).
* Deflated Sharpe ratio (Bailey & López de Prado 2014): the PSR against the Sharpe the best of
  N trials would show by luck alone, E[max SR] = sqrt(V) * ((1 - gamma) * Phi^-1(1 - 1/N)
  + gamma * Phi^-1(1 - 1/(N e))), V the variance of the trials' Sharpes and gamma the
  Euler-Mascheroni constant.
* Interval: the stationary block bootstrap (Politis & Romano 1994) of the annualized Sharpe,
  so the serial dependence of returns (volatility clusters, positions held for several bars)
  survives resampling.

A series with fewer than two returns has no Sharpe statistics (NaN). A constant series has
Sharpe 0 and is treated as normal (skew 0, kurtosis 3), so its statistics stay finite.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy import stats

FloatArray = npt.NDArray[np.float64]

EULER_GAMMA = 0.5772156649015329
# Resampled indices are built in chunks of at most this many cells, to bound memory.
_CHUNK_CELLS = 4_000_000


def _as_returns(returns: FloatArray) -> FloatArray:
    values = np.asarray(returns, dtype=np.float64).ravel()
    if not np.all(np.isfinite(values)):
        raise ValueError("returns must be finite")
    return values


def per_bar_sharpe(returns: FloatArray) -> float:
    """mean / std (ddof=1) of the returns; 0 for a constant series, NaN below two returns."""
    values = _as_returns(returns)
    if values.shape[0] < 2:
        return math.nan
    std = float(np.std(values, ddof=1))
    return float(np.mean(values)) / std if std > 0 else 0.0


def annualize(per_bar: float, periods_per_year: float) -> float:
    """A per-bar Sharpe (or its standard error) on an annual scale."""
    return per_bar * math.sqrt(periods_per_year)


def _moments(values: FloatArray) -> tuple[float, float, float]:
    """(per-bar Sharpe, skewness, non-excess kurtosis)."""
    sharpe = per_bar_sharpe(values)
    if float(np.std(values)) == 0.0:
        return sharpe, 0.0, 3.0
    skew = float(stats.skew(values, bias=True))
    kurtosis = float(stats.kurtosis(values, fisher=False, bias=True))
    return sharpe, skew, kurtosis


def sharpe_standard_error(returns: FloatArray) -> float:
    """Standard error of the per-bar Sharpe (Lo 2002 with the non-normality adjustment):
    sqrt((1 - skew * SR + (kurtosis - 1) / 4 * SR^2) / (n - 1)). For normal returns this is
    sqrt((1 + SR^2 / 2) / (n - 1))."""
    values = _as_returns(returns)
    n = values.shape[0]
    if n < 2:
        return math.nan
    sharpe, skew, kurtosis = _moments(values)
    # Non-negative for any distribution (kurtosis >= 1 + skew^2); the clamp guards rounding.
    variance = max(0.0, 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2)
    return math.sqrt(variance / (n - 1))


def probabilistic_sharpe_ratio(returns: FloatArray, benchmark_sharpe: float = 0.0) -> float:
    """PSR: the probability that the true per-bar Sharpe exceeds `benchmark_sharpe` (also
    per bar), Phi((SR - SR*) / SE)."""
    values = _as_returns(returns)
    error = sharpe_standard_error(values)
    if math.isnan(error):
        return math.nan
    sharpe = per_bar_sharpe(values)
    if error == 0.0:
        # Only a degenerate series: the estimate is taken as exact.
        return 1.0 if sharpe > benchmark_sharpe else 0.0
    return float(stats.norm.cdf((sharpe - benchmark_sharpe) / error))


def expected_max_sharpe(trials: int, sharpe_variance: float) -> float:
    """The expected maximum of `trials` per-bar Sharpe estimates whose true value is 0 and
    whose variance across trials is `sharpe_variance` (Bailey & López de Prado 2014):
    sqrt(V) * ((1 - gamma) * Phi^-1(1 - 1/N) + gamma * Phi^-1(1 - 1/(N e))). 0 for one trial
    or none: nothing was selected."""
    if sharpe_variance < 0:
        raise ValueError("sharpe_variance must be >= 0")
    if trials <= 1:
        return 0.0
    n = float(trials)
    quantiles = (1.0 - EULER_GAMMA) * stats.norm.ppf(1.0 - 1.0 / n) + EULER_GAMMA * stats.norm.ppf(
        1.0 - 1.0 / (n * math.e)
    )
    return math.sqrt(sharpe_variance) * float(quantiles)


def deflated_sharpe_ratio(
    returns: FloatArray, trials: int, sharpe_variance: float | None = None
) -> float:
    """DSR: the PSR against the Sharpe the best of `trials` would reach by luck
    (`expected_max_sharpe`). `sharpe_variance` is the variance of the per-bar Sharpes of the
    trials; when it is not known (the other trials' return series are not kept), the
    estimator's own variance SE^2 stands in for it: the spread one strategy's Sharpe would
    show across equally good trials by sampling noise alone. With one trial DSR == PSR."""
    values = _as_returns(returns)
    variance = sharpe_variance
    if variance is None:
        error = sharpe_standard_error(values)
        if math.isnan(error):
            return math.nan
        variance = error**2
    return probabilistic_sharpe_ratio(values, expected_max_sharpe(trials, variance))


def stationary_bootstrap_indices(
    n: int, resamples: int, mean_block: float, rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """(resamples, n) indices of the stationary bootstrap: blocks start at uniform positions,
    have geometric lengths of mean `mean_block` and wrap around the end of the series."""
    positions = np.arange(n)
    starts = rng.integers(0, n, size=(resamples, n))
    new_block = rng.random((resamples, n)) < 1.0 / mean_block
    new_block[:, 0] = True
    # The position at which the current block began, carried forward along each row.
    block_begin = np.maximum.accumulate(np.where(new_block, positions, 0), axis=1)
    block_start = np.take_along_axis(starts, block_begin, axis=1)
    return (block_start + positions - block_begin) % n


def block_bootstrap_interval(
    returns: FloatArray,
    *,
    periods_per_year: float,
    confidence: float = 0.9,
    resamples: int = 2000,
    seed: int = 0,
    mean_block: float | None = None,
) -> tuple[float, float]:
    """Percentile interval of the annualized Sharpe under the stationary block bootstrap.
    `mean_block` (bars) defaults to n^(1/3), the rate that balances the bias and variance of
    block-bootstrap estimates of a mean's distribution."""
    values = _as_returns(returns)
    n = values.shape[0]
    if not 0 < confidence < 1:
        raise ValueError("confidence must be in (0, 1)")
    if resamples < 1:
        raise ValueError("resamples must be >= 1")
    if n < 2:
        return math.nan, math.nan
    block = float(mean_block) if mean_block is not None else max(1.0, n ** (1.0 / 3.0))
    if block < 1:
        raise ValueError("mean_block must be >= 1")
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_CELLS // n)
    sharpes = np.empty(resamples)
    for begin in range(0, resamples, chunk):
        count = min(chunk, resamples - begin)
        sample = values[stationary_bootstrap_indices(n, count, block, rng)]
        mean = sample.mean(axis=1)
        std = sample.std(axis=1, ddof=1)
        safe = np.where(std > 0, std, 1.0)
        sharpes[begin : begin + count] = np.where(std > 0, mean / safe, 0.0)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(sharpes, [tail, 1.0 - tail])
    return annualize(float(low), periods_per_year), annualize(float(high), periods_per_year)

"""Synthetic OHLCV bars for demos and benchmarks: deterministic per (seed, symbol)."""

from __future__ import annotations

import math
import zlib
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt
import polars as pl

from trade2026_assets.bars import BARS_SCHEMA

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Volatility regimes: calm, normal, stressed. Per-bar sigma multipliers, mean durations in bars
# (geometric holding times) and the volume uplift (log units) each regime brings.
_REGIME_SIGMA = np.array([0.6, 1.0, 2.2])
_REGIME_MEAN_BARS = np.array([400.0, 300.0, 150.0])
_REGIME_LOG_VOLUME = np.array([-0.25, 0.0, 0.45])
# Leaving a regime goes to either other regime with equal odds, so the chain's stationary
# distribution is proportional to the mean durations.
_REGIME_STATIONARY = _REGIME_MEAN_BARS / _REGIME_MEAN_BARS.sum()
# Student-t innovations: fat tails, scaled to unit variance.
_T_DOF = 5.0
_T_SCALE = math.sqrt((_T_DOF - 2.0) / _T_DOF)
# The AR(1) kernel phi**k is cut where it no longer changes a float64 sum.
_KERNEL_CUTOFF = 1e-17
# Longer kernels (|phi| above ~0.86) are applied block by block so the cost stays O(n * block).
_AR_BLOCK = 256
_BASE_VOLUME = 20_000.0
_MS_PER_MINUTE = 60_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def synthetic_bars(
    symbol: str,
    *,
    seed: int = 7,
    n_bars: int = 5000,
    start: datetime = datetime(2024, 1, 2, tzinfo=UTC),
    bar_minutes: int = 60,
    start_price: float = 100.0,
    volatility: float = 0.004,
    predictability: float = 0.0,
) -> pl.DataFrame:
    """Deterministic, realistic-looking OHLCV bars for one symbol.

    The same (seed, symbol) always gives the same bars, on every machine and Python process
    (the generator is seeded from `seed` and the CRC-32 of the symbol, never `hash()`).

    Model:

    * Volatility regimes: a sticky 3-state Markov chain (calm / normal / stressed, per-bar
      sigma = `volatility` times 0.6 / 1.0 / 2.2, mean stays of 400 / 300 / 150 bars).
    * Log returns ``r_t = predictability * r_{t-1} + sigma_t * z_t`` with z Student-t (5
      degrees of freedom) scaled to unit variance.
    * close = start_price * exp(cumsum(r)); open = previous close times a small gap (the
      first open is `start_price`); high / low extend max / min(open, close) by a small wick,
      so high >= max(open, close) >= min(open, close) >= low > 0 always. Volume is log-normal,
      higher on large moves and in the stressed regime.
    * ts = start + seq * bar_minutes, UTC, millisecond precision, no gaps.

    `predictability` (phi, -1 < phi < 1) is the lag-1 autocorrelation of bar returns: with
    phi = 0.3 a bar's return carries on 30% of the previous one, so the sample lag-1
    autocorrelation of close-to-close log returns is about 0.3. 0 (the default) is a pure
    random walk, which no model can beat; a small positive value (0.05-0.3) gives the demo's
    ML steps an honest, known signal to learn, so their out-of-sample scores can be checked
    against the truth. Negative values give mean reversion. The return variance grows by
    1 / (1 - phi**2) over the regime's sigma**2. The recursion is computed without a per-bar
    loop as a convolution of the innovations with the kernel phi**k, truncated where
    |phi|**k < 1e-17, which is exact to float64 precision; for |phi| above about 0.86 the
    kernel is applied in exact blocks of 256 bars, so the cost stays bounded as |phi| -> 1.

    Raises ValueError for an empty symbol, a negative seed, n_bars < 1, bar_minutes < 1, a
    naive `start`, non-positive start_price or volatility, |predictability| >= 1, or a
    volatility so large that prices overflow.
    """
    _check_synthetic_args(
        symbol=symbol,
        seed=seed,
        n_bars=n_bars,
        start=start,
        bar_minutes=bar_minutes,
        start_price=start_price,
        volatility=volatility,
        predictability=predictability,
    )
    rng = np.random.default_rng([seed, zlib.crc32(symbol.encode())])
    n = n_bars

    regime = _regimes(rng, n)
    sigma = volatility * _REGIME_SIGMA[regime]
    shocks = rng.standard_t(_T_DOF, size=n) * _T_SCALE
    returns = _ar1(sigma * shocks, predictability)

    with np.errstate(over="ignore", under="ignore"):
        close = start_price * np.exp(np.cumsum(returns))
        gap = 0.1 * sigma * rng.standard_normal(n)
        open_ = np.empty(n)
        open_[0] = start_price
        open_[1:] = close[:-1] * np.exp(gap[1:])
        wick = 0.5 * sigma * np.abs(rng.standard_normal((2, n)))
        high = np.maximum(open_, close) * np.exp(wick[0])
        low = np.minimum(open_, close) * np.exp(-wick[1])
    if not (np.isfinite(high).all() and (low > 0).all()):
        raise ValueError(
            f"volatility {volatility} is too large: prices overflow or reach zero over "
            f"{n_bars} bars"
        )

    log_volume = (
        math.log(_BASE_VOLUME)
        + _REGIME_LOG_VOLUME[regime]
        # Capped so one fat-tailed bar cannot dwarf a whole day's volume.
        + 0.3 * np.minimum(np.abs(returns) / volatility, 6.0)
        + 0.3 * rng.standard_normal(n)
    )
    # ceil keeps whole units and volume >= 1 even for the smallest draw.
    volume = np.ceil(np.exp(log_volume))

    start_ms = (start - _EPOCH) // timedelta(milliseconds=1)
    ts_ms = start_ms + np.arange(n, dtype=np.int64) * (bar_minutes * _MS_PER_MINUTE)
    return pl.DataFrame(
        {
            "symbol": pl.repeat(symbol, n, dtype=pl.String, eager=True),
            "seq": np.arange(n, dtype=np.uint32),
            "ts": pl.Series(ts_ms, dtype=pl.Int64).cast(BARS_SCHEMA["ts"]),
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
        },
        schema=BARS_SCHEMA,
    )


def _check_synthetic_args(
    *,
    symbol: str,
    seed: int,
    n_bars: int,
    start: datetime,
    bar_minutes: int,
    start_price: float,
    volatility: float,
    predictability: float,
) -> None:
    if not symbol:
        raise ValueError("symbol must be a non-empty string")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if n_bars < 1:
        raise ValueError(f"n_bars must be >= 1, got {n_bars}")
    if n_bars > np.iinfo(np.uint32).max:
        raise ValueError(f"n_bars must fit seq's UInt32, got {n_bars}")
    if bar_minutes < 1:
        raise ValueError(f"bar_minutes must be >= 1, got {bar_minutes}")
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError(f"start must be timezone-aware (e.g. tzinfo=UTC), got {start!r}")
    if not (math.isfinite(start_price) and start_price > 0):
        raise ValueError(f"start_price must be a positive number, got {start_price}")
    if not (math.isfinite(volatility) and volatility > 0):
        raise ValueError(f"volatility must be a positive number, got {volatility}")
    if not -1.0 < predictability < 1.0:
        raise ValueError(
            f"predictability (the lag-1 autocorrelation phi) must satisfy -1 < phi < 1, "
            f"got {predictability}"
        )


def _regimes(rng: np.random.Generator, n: int) -> IntArray:
    """The regime of each bar: runs of geometric length, each run in a different regime."""
    pieces: list[IntArray] = []
    filled = 0
    state = int(rng.choice(3, p=_REGIME_STATIONARY))
    # A chunk of runs almost always covers n bars at once; the loop is for the rare rest.
    runs_per_chunk = n // 100 + 4
    while filled < n:
        steps = rng.integers(1, 3, size=runs_per_chunk - 1)
        states = (state + np.concatenate(([0], np.cumsum(steps)))) % 3
        lengths = rng.geometric(1.0 / _REGIME_MEAN_BARS[states])
        pieces.append(np.repeat(states, lengths))
        filled += int(lengths.sum())
        state = int((states[-1] + rng.integers(1, 3)) % 3)
    return np.concatenate(pieces)[:n]


def _ar1(innovations: FloatArray, phi: float) -> FloatArray:
    """r_t = phi * r_{t-1} + e_t (r_{-1} = 0) without a per-bar Python loop."""
    n = innovations.size
    if phi == 0.0:
        return innovations
    taps = min(n, math.floor(math.log(_KERNEL_CUTOFF) / math.log(abs(phi))) + 1)
    kernel = phi ** np.arange(min(taps, _AR_BLOCK), dtype=np.float64)
    if taps <= _AR_BLOCK:
        return np.convolve(innovations, kernel)[:n]
    # Within a block the kernel covers every earlier bar of the block exactly; what came before
    # the block enters through its last value times phi**(k+1).
    carry = phi * kernel
    out = np.empty(n)
    previous = 0.0
    for begin in range(0, n, _AR_BLOCK):
        block = innovations[begin : begin + _AR_BLOCK]
        m = block.size
        out[begin : begin + m] = np.convolve(block, kernel[:m])[:m] + carry[:m] * previous
        previous = float(out[begin + m - 1])
    return out

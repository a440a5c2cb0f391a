"""Least squares for a handful of predictors, in plain Python.

The hub's install carries no numpy (scripts/check_profiles.py keeps it out), and the systems here are at most a
few dozen unknowns: normal equations accumulated row by row and a Cholesky solve are quick enough and exact enough.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Gram:
    """X'X and X'y accumulated over rows, so folds can be added and taken away without revisiting the rows."""

    size: int
    xtx: list[list[float]] = field(default_factory=list)
    xty: list[float] = field(default_factory=list)
    rows: int = 0

    def __post_init__(self) -> None:
        if not self.xtx:
            self.xtx = [[0.0] * self.size for _ in range(self.size)]
            self.xty = [0.0] * self.size

    def add(self, x: Sequence[float], y: float) -> None:
        for a in range(self.size):
            xa = x[a]
            if xa == 0.0:
                continue
            row = self.xtx[a]
            for b in range(a + 1):
                row[b] += xa * x[b]
            self.xty[a] += xa * y
        self.rows += 1

    def minus(self, other: Gram) -> Gram:
        out = Gram(self.size)
        for a in range(self.size):
            for b in range(a + 1):
                out.xtx[a][b] = self.xtx[a][b] - other.xtx[a][b]
            out.xty[a] = self.xty[a] - other.xty[a]
        out.rows = self.rows - other.rows
        return out

    def plus(self, other: Gram) -> Gram:
        out = Gram(self.size)
        for a in range(self.size):
            for b in range(a + 1):
                out.xtx[a][b] = self.xtx[a][b] + other.xtx[a][b]
            out.xty[a] = self.xty[a] + other.xty[a]
        out.rows = self.rows + other.rows
        return out

    def solve(self, ridge: float, unpenalised: int = 1) -> list[float]:
        """Coefficients minimising |y - Xb|² + ridge * sum_j X'X_jj b_j² over j >= ``unpenalised``.

        Scaling the penalty by each column's own X'X_jj makes it the same for a column in metres or in
        centimetres; the first ``unpenalised`` columns (the intercept) are left free.
        """
        a = [[self.xtx[max(i, j)][min(i, j)] for j in range(self.size)] for i in range(self.size)]
        for j in range(unpenalised, self.size):
            a[j][j] += ridge * a[j][j] + 1e-12
        return cholesky_solve(a, self.xty)


def cholesky_solve(a: list[list[float]], b: Sequence[float]) -> list[float]:
    """x with a x = b for a symmetric positive definite ``a``; ValueError if it is not."""
    n = len(a)
    low = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1):
            s = a[i][j] - sum(low[i][k] * low[j][k] for k in range(j))
            if i == j:
                if s <= 0.0:
                    raise ValueError("the predictors are linearly dependent (a constant or repeated series)")
                low[i][i] = math.sqrt(s)
            else:
                low[i][j] = s / low[j][j]
    z = [0.0] * n
    for i in range(n):
        z[i] = (b[i] - sum(low[i][k] * z[k] for k in range(i))) / low[i][i]
    x = [0.0] * n
    for i in reversed(range(n)):
        x[i] = (z[i] - sum(low[k][i] * x[k] for k in range(i + 1, n))) / low[i][i]
    return x


def dot(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0-1) with linear interpolation between order statistics; NaN for no values."""
    if not values:
        return float("nan")
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)

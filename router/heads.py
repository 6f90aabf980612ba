"""Linear softmax heads over sentence vectors, fitted by L-BFGS on weighted cross-entropy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class LinearHead:
    """softmax(x @ weights + bias) over `classes`."""

    classes: tuple[str, ...]
    weights: Matrix  # (dims, classes)
    bias: Matrix  # (classes,)

    def logits(self, x: Matrix) -> Matrix:
        out: Matrix = x @ self.weights + self.bias
        return out

    def probabilities(self, x: Matrix) -> Matrix:
        return softmax(self.logits(x))


def softmax(logits: npt.NDArray[np.floating]) -> Matrix:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    out: Matrix = (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)
    return out


@dataclass(frozen=True)
class Fit:
    """Training settings: L2 strength on standardised inputs, and the L-BFGS budget."""

    l2: float = 1e-3
    iterations: int = 200
    memory: int = 10
    tolerance: float = 1e-6


def fit(
    x: Matrix,
    labels: Sequence[int],
    classes: Sequence[str],
    weights: npt.NDArray[np.floating] | None = None,
    settings: Fit = Fit(),
) -> LinearHead:
    """Weighted multinomial logistic regression; deterministic for the same inputs.

    Inputs are standardised for the fit and the result folded back, so the head applies to
    raw vectors. `weights` are per-row (default 1), normalised to mean 1.
    """
    x64 = x.astype(np.float64)
    mean, std = x64.mean(axis=0), x64.std(axis=0) + 1e-6
    z = (x64 - mean) / std
    y = np.zeros((len(labels), len(classes)))
    y[np.arange(len(labels)), np.asarray(labels)] = 1.0
    w = np.ones(len(labels)) if weights is None else np.asarray(weights, np.float64)
    w = w / w.mean()
    problem = _Problem(z, y, w, settings.l2)
    theta = lbfgs(problem, np.zeros((z.shape[1] + 1) * len(classes)), settings)
    coef, bias = problem.unpack(theta)
    coef = coef / std[:, None]
    bias = bias - mean @ coef
    return LinearHead(tuple(classes), coef.astype(np.float32), bias.astype(np.float32))


class _Problem:
    def __init__(self, z: F64, y: F64, w: F64, l2: float) -> None:
        self.z, self.y, self.w, self.l2 = z, y, w, l2
        self.d, self.k = z.shape[1], y.shape[1]

    def unpack(self, theta: F64) -> tuple[F64, F64]:
        coef = theta[: self.d * self.k].reshape(self.d, self.k)
        return coef, theta[self.d * self.k :]

    def __call__(self, theta: F64) -> tuple[float, F64]:
        coef, bias = self.unpack(theta)
        logits = self.z @ coef + bias
        logits -= logits.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(logits).sum(axis=1, keepdims=True))
        log_p = logits - log_norm
        n = len(self.z)
        loss = -(self.w * (self.y * log_p).sum(axis=1)).sum() / n
        loss += 0.5 * self.l2 * float((coef * coef).sum())
        err = (np.exp(log_p) - self.y) * self.w[:, None] / n
        grad_coef = self.z.T @ err + self.l2 * coef
        return float(loss), np.concatenate([grad_coef.ravel(), err.sum(axis=0)])


def lbfgs(f: _Problem, theta: F64, settings: Fit) -> F64:
    """Limited-memory BFGS with a backtracking (Armijo) line search."""
    loss, grad = f(theta)
    s_hist: list[F64] = []
    y_hist: list[F64] = []
    for _ in range(settings.iterations):
        direction = -_two_loop(grad, s_hist, y_hist)
        slope = float(grad @ direction)
        if slope >= 0:
            direction, slope = -grad, -float(grad @ grad)
        step = 1.0
        while True:
            trial = theta + step * direction
            new_loss, new_grad = f(trial)
            if new_loss <= loss + 1e-4 * step * slope or step < 1e-10:
                break
            step *= 0.5
        s, yv = trial - theta, new_grad - grad
        if float(s @ yv) > 1e-12:
            s_hist.append(s)
            y_hist.append(yv)
            if len(s_hist) > settings.memory:
                s_hist.pop(0)
                y_hist.pop(0)
        done = abs(loss - new_loss) <= settings.tolerance * max(1.0, abs(loss))
        theta, loss, grad = trial, new_loss, new_grad
        if done:
            break
    return theta


def _two_loop(grad: F64, s_hist: list[F64], y_hist: list[F64]) -> F64:
    q = grad.copy()
    alphas = []
    for s, y in zip(reversed(s_hist), reversed(y_hist), strict=True):
        a = float(s @ q) / float(y @ s)
        alphas.append(a)
        q -= a * y
    if s_hist:
        q *= float(s_hist[-1] @ y_hist[-1]) / float(y_hist[-1] @ y_hist[-1])
    for (s, y), a in zip(zip(s_hist, y_hist, strict=True), reversed(alphas), strict=True):
        b = float(y @ q) / float(y @ s)
        q += (a - b) * s
    return q

"""Linear softmax heads over sentence vectors, fitted by L-BFGS on weighted cross-entropy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
CHUNK = 16  # positions per product in ConvHead.probability (2**18 multiply-adds at most)


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
    x: Matrix | Sequence[Matrix],
    labels: Sequence[int],
    classes: Sequence[str],
    weights: npt.NDArray[np.floating] | None = None,
    settings: Fit = Fit(),
) -> LinearHead:
    """Weighted multinomial logistic regression; deterministic for the same inputs.

    Inputs are standardised for the fit and the result folded back, so the head applies to
    raw vectors. `weights` are per-row (default 1), normalised to mean 1. `x` may be a
    matrix or its rows: rows become the float64 matrix directly, with no float32 copy.
    """
    z: F64 = np.array(x, dtype=np.float64)
    mean, std = z.mean(axis=0), _column_std(z) + 1e-6
    z -= mean  # in place: the same numbers as (z - mean) / std, without two more copies
    z /= std  # of a corpus-sized matrix (a refit's peak memory)
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


def _column_std(z: F64, block: int = 32) -> F64:
    """z.std(axis=0), the same numbers, a few columns at a time: np.std makes a centred
    copy of its input, which for a corpus-sized matrix is the largest allocation of a fit."""
    if z.ndim != 2:
        whole: F64 = np.asarray(z.std(axis=0), np.float64)
        return whole
    parts = [z[:, i : i + block].std(axis=0) for i in range(0, z.shape[1], block)]
    return np.concatenate(parts) if parts else np.zeros(0)


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


@dataclass(frozen=True)
class ConvHead:
    """Harmful-vs-benign over a text's token vectors: a convolution of `width` tokens
    (filters x), ReLU, the maximum over positions, then softmax(x @ out + out_bias).

    It reads which neighbouring tokens occur together ("kill a process" is not "kill a
    person"), which a pooled vector cannot, and its maximum does not fade with length."""

    filters: Matrix  # (width * dims, count)
    bias: Matrix  # (count,)
    out: Matrix  # (count, 2)
    out_bias: Matrix  # (2,)
    width: int

    def probability(self, rows: Matrix) -> float:
        """P(harmful) for one text's token vectors (rows, dims); 0.5 with no tokens.

        Products of at most CHUNK positions: OpenBLAS runs larger ones on several threads,
        which costs milliseconds on a busy machine."""
        if not len(rows):
            return 0.5
        windows = _windows(rows, self.width)
        top = np.full(self.filters.shape[1], -np.inf, np.float32)
        for start in range(0, len(windows), CHUNK):
            np.maximum(top, (windows[start : start + CHUNK] @ self.filters).max(axis=0), out=top)
        pooled = np.maximum(top + self.bias, 0.0)
        return float(softmax(pooled @ self.out + self.out_bias)[1])

    def project(self, table: Matrix) -> Matrix:
        """What each vocabulary row adds at each offset of the filter, side by side:
        (rows, width * count). The first layer is linear in the token vectors, so with
        this table a text costs one lookup per token and no product (`probability_of`)."""
        dims = table.shape[1]
        parts = [table @ self.filters[i * dims : (i + 1) * dims] for i in range(self.width)]
        projected: Matrix = np.hstack(parts).astype(np.float32)
        return projected

    def probability_of(self, projected: Matrix, ids: npt.NDArray[np.intp]) -> float:
        """`probability` of the text with these token ids, from `project`'s table."""
        if not len(ids):
            return 0.5
        rows, count = projected[ids], self.filters.shape[1]
        positions = max(1, len(ids) - self.width + 1)
        hidden = rows[:positions, :count].copy()
        for i in range(1, self.width):
            part = rows[i : i + positions, i * count : (i + 1) * count]
            hidden[: len(part)] += part
        pooled = np.maximum(hidden.max(axis=0) + self.bias, 0.0)
        logits = pooled @ self.out + self.out_bias
        return float(1.0 / (1.0 + np.exp(logits[0] - logits[1])))


def _windows(rows: Matrix, width: int) -> Matrix:
    """(positions, width * dims): each token with its next width-1 tokens (zeros past the end)."""
    if len(rows) < width:
        rows = np.vstack([rows, np.zeros((width - len(rows), rows.shape[1]), rows.dtype)])
    n = len(rows) - width + 1
    out: Matrix = np.hstack([rows[i : i + n] for i in range(width)])
    return out


@dataclass(frozen=True)
class ConvFit:
    """Adam on weighted cross-entropy, mini-batches of similar length, fixed seed."""

    count: int = 64
    width: int = 2
    epochs: int = 6
    learning_rate: float = 2e-3
    decay: float = 1e-4
    batch: int = 64
    max_tokens: int = 256  # training reads at most this many tokens of a text
    seed: int = 0


def fit_conv(
    texts: Sequence[Matrix], labels: Sequence[int], weights: npt.NDArray[np.floating],
    settings: ConvFit = ConvFit(),
) -> ConvHead:  # fmt: skip
    """Fit a ConvHead on token-vector sequences (one (tokens, dims) array per text)."""
    rng = np.random.default_rng(settings.seed)
    dims = texts[0].shape[1]
    params = _init_conv(rng, dims, settings)
    adam = _Adam(params, settings.learning_rate)
    y = np.asarray(labels)
    w = (np.asarray(weights, np.float64) / np.mean(weights)).astype(np.float32)
    lengths = np.array([min(len(t), settings.max_tokens) for t in texts])
    for _ in range(settings.epochs):
        for batch in _batches(rng, lengths, settings.batch):
            x, mask = _pad([texts[i][: settings.max_tokens] for i in batch], settings.width)
            grads = _conv_grads(params, x, mask, y[batch], w[batch], settings)
            adam.step(grads)
    filters, bias, out, out_bias = params
    return ConvHead(filters, bias, out, out_bias, settings.width)


def _init_conv(rng: np.random.Generator, dims: int, s: ConvFit) -> list[Matrix]:
    fan = dims * s.width
    return [
        (rng.standard_normal((fan, s.count)) * np.sqrt(2 / fan)).astype(np.float32),
        np.zeros(s.count, np.float32),
        (rng.standard_normal((s.count, 2)) * np.sqrt(1 / s.count)).astype(np.float32),
        np.zeros(2, np.float32),
    ]


Index = npt.NDArray[np.int64]


def _batches(rng: np.random.Generator, lengths: Index, size: int) -> list[Index]:
    """A shuffled order cut into chunks of 20 batches; inside a chunk, batches by length."""
    order = rng.permutation(len(lengths))
    out: list[Index] = []
    for start in range(0, len(order), size * 20):
        chunk = order[start : start + size * 20]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        out.extend(chunk[i : i + size] for i in range(0, len(chunk), size))
    return out


def _pad(texts: Sequence[Matrix], width: int) -> tuple[Matrix, Matrix]:
    """(batch, positions, width * dims) windows and a (batch, positions) mask of real ones."""
    longest = max(width, max(len(t) for t in texts))
    dims = texts[0].shape[1]
    x = np.zeros((len(texts), longest, dims), np.float32)
    mask = np.zeros((len(texts), longest - width + 1), np.float32)
    for i, t in enumerate(texts):
        x[i, : len(t)] = t
        mask[i, : max(1, len(t) - width + 1)] = 1.0
    n = longest - width + 1
    return np.concatenate([x[:, i : i + n] for i in range(width)], axis=2), mask


def _conv_grads(
    params: list[Matrix], x: Matrix, mask: Matrix, y: npt.NDArray[np.int64],
    w: Matrix, s: ConvFit,
) -> list[Matrix]:  # fmt: skip
    filters, bias, out, out_bias = params
    b, n, fan = x.shape
    hidden = (x.reshape(b * n, fan) @ filters + bias).reshape(b, n, -1)
    masked = np.where(mask[:, :, None] > 0, hidden, -np.inf)
    where = masked.argmax(axis=1)
    top = np.take_along_axis(hidden, where[:, None, :], axis=1)[:, 0, :]
    pooled = np.maximum(top, 0.0)
    p = softmax(pooled @ out + out_bias)
    target = np.zeros_like(p)
    target[np.arange(b), y] = 1.0
    g = (p - target) * w[:, None] / b
    g_pooled = (g @ out.T) * (top > 0)
    g_hidden = np.zeros_like(hidden)
    np.put_along_axis(g_hidden, where[:, None, :], g_pooled[:, None, :], axis=1)
    g_filters = x.reshape(b * n, fan).T @ g_hidden.reshape(b * n, -1)
    return [
        g_filters + s.decay * filters,
        g_hidden.sum(axis=(0, 1)),
        pooled.T @ g + s.decay * out,
        g.sum(axis=0),
    ]


class _Adam:
    def __init__(self, params: list[Matrix], rate: float) -> None:
        self.params, self.rate, self.t = params, rate, 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, grads: list[Matrix]) -> None:
        self.t += 1
        for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
            m *= 0.9
            m += 0.1 * g
            v *= 0.999
            v += 0.001 * g * g
            p -= (
                self.rate * (m / (1 - 0.9**self.t)) / (np.sqrt(v / (1 - 0.999**self.t)) + 1e-8)
            ).astype(np.float32)

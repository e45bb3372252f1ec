"""Profile-likelihood confidence intervals for proportions, exactly as R ``svyciprop``.

R ``survey::svyciprop(method="likelihood")`` (survey 4.1) fits the intercept-only
quasibinomial model ``svyglm(y ~ 1, design, family=quasibinomial)`` on the (domain of the)
design and calls ``confint.svyglm(method="likelihood", ddf=degf(design))``, which profiles the
design-scaled binomial deviance (Lumley & Scott 2014, *Statistical Science* 29(2); Lumley
2010 §2.3.1). The steps, each reproduced here:

1. **The fit** -- ``glm.fit`` (R ``stats``) on the domain's rows with prior weights
   ``W = w / mean(w)``: iteratively reweighted least squares from ``mustart = (W y + 0.5) /
   (W + 1)`` until ``|dev - devold| / (|dev| + 0.1) < 1e-8`` (:func:`fit_logistic`). R's
   coefficient ``B0`` therefore differs from ``logit`` of the weighted mean by the IRLS
   convergence error (~1e-11), and the *naive* variance ``1 / sum(working weights)`` uses the
   working weights of the last iteration, i.e. the fitted value of the iteration *before*
   convergence (a relative difference of up to ~1e-5 from ``p(1-p) sum W``). Both enter the
   interval at first order, so the IRLS path is emulated rather than replaced by its limit.
2. **Design variance** of ``B0``: ``svy.varcoef``; for this model the influence values are
   ``w (y - mu) / (sum w * mu (1 - mu))``, so ``var(B0) = var(p) / (mu (1 - mu))^2`` on a
   Taylor design; replicate designs refit per replicate (see :mod:`analysis.replicates`).
3. **Scaling**: ``lambda = var(B0) / naive var``; ``alpha = pnorm(qt((1-level)/2, ddf) *
   sqrt(lambda)) / 2``; ``zmax = sqrt(qf(alpha, 1, n - 1, lower.tail=FALSE))`` with ``n`` the
   domain's rows; ``del = zmax / 5``.
4. **Profile** (``MASSprofile_glm``): from ``B0`` step ``B0 +/- step * del * se`` for
   ``step = 1, 2, ...`` while ``step < 10`` and ``|z| < zmax``, with ``z = sign *
   sqrt((dev(b) - dev(B0)) / dispersion)``; the dispersion is ``svyvar`` of the Pearson
   residuals on the design.
5. **Inversion** (``confint_profile``): ``spline()`` through ``(b, z)`` -- R's ``fmm``
   (Forsythe, Malcolm & Moler 1977) cubic spline evaluated at ``3 * length(b)`` equally
   spaced points (:func:`fmm_spline`, :func:`spline_eval`) -- then linear interpolation
   ``approx(z, b, xout = +/- qnorm(2 alpha))`` (:func:`approx`), then ``expit``.

All domains are profiled together (the steps as one array, the splines stacked by number of
knots) with the same floating-point operations as one at a time (:func:`_one_interval`, kept
as the reference and tested against the batch).

Replicate designs: R 4.1.1 returns NA here (``residuals.svrepglm`` breaks the dispersion);
this module applies the same algorithm with the replicate variance of ``B0`` (R's refits of
``svyglm`` per replicate) and the design-weighted Pearson dispersion, which gives a defined
interval close to the logit one. Where R's profile stops short of the cutoff (nine steps of
``zmax/5`` standard errors, e.g. when the design variance is far below the naive one) R
returns NA, and so does this module.

References: R sources ``survey:::svyciprop``, ``survey:::confint.svyglm``,
``survey:::MASSprofile_glm``, ``survey:::confint_profile``, ``survey:::svy.varcoef``,
``stats::glm.fit``, ``stats::spline`` and its C code ``splines.c`` (``fmm_spline``,
``spline_eval``), ``stats::approx`` (C ``approx1``); Venables & Ripley (2002) *MASS*
``profile.glm``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from analysis import linearization

if TYPE_CHECKING:
    from analysis.design import SurveyDesign

_THRESH = 30.0  # R's logit link: linkinv/mu.eta clamp |eta| > 30 (family.c)
_EPS = np.finfo(float).eps
_EPSILON = 1e-8  # glm.control()$epsilon
_MAXIT = 25  # glm.control()$maxit
_MAXSTEPS = 10  # MASSprofile_glm(maxsteps = 10)


# ---------------------------------------------------------------------- R's logit family
def linkinv(eta: np.ndarray) -> np.ndarray:
    """R ``binomial()$linkinv`` (C ``logit_linkinv``): ``exp(eta) / (1 + exp(eta))``, clamped."""
    eta = np.asarray(eta, dtype=float)
    with np.errstate(over="ignore"):
        tmp = np.where(eta < -_THRESH, _EPS,
                       np.where(eta > _THRESH, 1 / _EPS, np.exp(np.clip(eta, -_THRESH, _THRESH))))
    return tmp / (1 + tmp)


def mu_eta(eta: np.ndarray) -> np.ndarray:
    """R ``binomial()$mu.eta`` (C ``logit_mu_eta``): ``exp(eta) / (1 + exp(eta))^2``."""
    eta = np.asarray(eta, dtype=float)
    e = np.exp(np.clip(eta, -_THRESH, _THRESH))
    return np.where(np.abs(eta) > _THRESH, _EPS, e / ((1 + e) * (1 + e)))


def _deviance(s1: np.ndarray, s0: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Binomial deviance of 0/1 data with weighted counts ``s1`` (y = 1) and ``s0`` (y = 0)."""
    return 2 * (s1 * np.log(1 / mu) + s0 * np.log(1 / (1 - mu)))


# ---------------------------------------------------------------------- the glm fit
@dataclass(frozen=True, eq=False)
class LogisticFit:
    """R's ``svyglm(y ~ 1, family=quasibinomial)`` per domain (D) and proportion (k).

    Attributes
    ----------
    coef : (D, k) the IRLS intercept ``B0`` (logit scale).
    deviance : (D, k) deviance at ``B0``.
    naive_var : (D, k) ``summary.glm(fit)$cov.unscaled``: 1 / sum of last working weights.
    s1, s0 : (D, k) sums of the rescaled prior weights ``W`` over rows with y = 1 and y = 0.
    dispersion : (D, k) ``svyvar`` of the Pearson residuals (the quasi-likelihood scale).
    n_rows : (D,) rows in the domain (``NROW(Y)`` of the model frame).
    iterations : (D, k) IRLS iterations used (R's ``fit$iter``).
    """

    coef: np.ndarray
    deviance: np.ndarray
    naive_var: np.ndarray
    s1: np.ndarray
    s0: np.ndarray
    dispersion: np.ndarray
    n_rows: np.ndarray
    iterations: np.ndarray

    @property
    def mu(self) -> np.ndarray:
        """Fitted proportion ``linkinv(B0)`` (R's ``expit(coef(m))``)."""
        return linkinv(self.coef)

    def coef_var(self, var: np.ndarray) -> np.ndarray:
        """Taylor design variance of ``B0`` from that of the proportion (``svy.varcoef``)."""
        return np.asarray(var, dtype=float) / mu_eta(self.coef) ** 2


def fit_logistic(codes: np.ndarray, n_domains: int, weights: np.ndarray,
                 y: np.ndarray) -> LogisticFit:
    """Emulate R's ``glm.fit`` for ``y ~ 1``, quasibinomial, in every domain at once.

    Parameters
    ----------
    codes : (n,) domain code per row, -1 outside every domain.
    n_domains : number of domains D.
    weights : (n,) sampling weights; R rescales them to mean 1 within the domain.
    y : (n,) or (n, k) 0/1 indicators (values outside the domain are ignored).

    Notes
    -----
    Only the first iteration depends on individual rows (through ``mustart``); from the
    second on the linear predictor is one number per domain and the iteration runs on the
    weighted counts. Rounding differs from R's QR-based update by O(1e-16) relative.
    """
    y = np.asarray(y, dtype=float)
    if y.ndim == 1:
        y = y[:, None]
    k = y.shape[1]
    inside = codes >= 0
    d = codes[inside]
    w = np.asarray(weights, dtype=float)[inside]
    yy = y[inside]
    n_rows = np.bincount(d, minlength=n_domains).astype(float)
    sum_w = np.bincount(d, weights=w, minlength=n_domains)
    n_pos = np.bincount(d, weights=(w != 0).astype(float), minlength=n_domains)
    with np.errstate(divide="ignore", invalid="ignore"):
        W = w / (sum_w / n_rows)[d]  # noqa: N806 -- R's prior weights
    out = {name: np.zeros((n_domains, k)) for name in ("coef", "dev", "naive", "s1", "s0")}
    iters = np.zeros((n_domains, k), dtype=np.int64)
    good = W > 0
    for j in range(k):
        yj = yy[:, j]
        s1 = np.bincount(d, weights=W * yj, minlength=n_domains)
        s0 = np.bincount(d, weights=W * (1 - yj), minlength=n_domains)
        sw = s1 + s0
        # --- initialisation and iteration 1 (row level) --------------------------------
        mustart = (W * yj + 0.5) / (W + 1)
        eta = np.log(mustart / (1 - mustart))
        mu = linkinv(eta)
        dev_rows = np.where(good, 2 * W * np.where(yj != 0, np.log(1 / mu),
                                                   np.log(1 / (1 - mu))), 0.0)
        devold = np.bincount(d, weights=dev_rows, minlength=n_domains)
        me = mu_eta(eta)
        z = eta + (yj - mu) / me
        w2 = np.where(good, W * me * me / (mu * (1 - mu)), 0.0)
        a1 = np.bincount(d, weights=w2, minlength=n_domains)
        b1 = np.bincount(d, weights=w2 * np.where(good, z, 0.0), minlength=n_domains)
        with np.errstate(divide="ignore", invalid="ignore"):
            coef = b1 / a1
        naive = 1 / a1
        # --- iterations 2.. on the weighted counts ---------------------------------------
        done = np.zeros(n_domains, dtype=bool)
        n_iter = np.ones(n_domains, dtype=np.int64)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            dev = _deviance(s1, s0, linkinv(coef))
            for it in range(1, _MAXIT + 1):
                conv = np.abs(dev - devold) / (np.abs(dev) + 0.1) < _EPSILON
                done |= conv | ~np.isfinite(dev)
                if done.all() or it == _MAXIT:
                    break
                active = ~done
                devold = np.where(active, dev, devold)
                m = linkinv(coef)
                me = mu_eta(coef)
                new = coef + (s1 / sw - m) / me
                naive = np.where(active, 1 / (sw * me * me / (m * (1 - m))), naive)
                coef = np.where(active, new, coef)
                dev = np.where(active, _deviance(s1, s0, linkinv(coef)), dev)
                n_iter = np.where(active, it + 1, n_iter)
        out["coef"][:, j] = coef
        out["dev"][:, j] = dev
        out["naive"][:, j] = naive
        out["s1"][:, j] = s1
        out["s0"][:, j] = s0
        iters[:, j] = n_iter
    mu = linkinv(out["coef"])
    with np.errstate(divide="ignore", invalid="ignore"):
        p = out["s1"] / (out["s1"] + out["s0"])
        # svyvar of the Pearson residuals (y - mu)/sqrt(mu(1-mu)): n/(n-1) sum w (r - rbar)^2
        # / sum w, which for 0/1 data is n/(n-1) p (1-p) / (mu (1-mu)), n = non-zero weights
        dispersion = (n_pos / (n_pos - 1))[:, None] * p * (1 - p) / (mu * (1 - mu))
    return LogisticFit(coef=out["coef"], deviance=out["dev"], naive_var=out["naive"],
                       s1=out["s1"], s0=out["s0"], dispersion=dispersion, n_rows=n_rows,
                       iterations=iters)


def refit_logistic(p: np.ndarray, start: np.ndarray) -> np.ndarray:
    """R's replicate refits of ``y ~ 1``: ``glm.fit(weights = w_r / sum(w_r), start = B0)``.

    ``svyglm.svyrep.design`` refits the model under every replicate weight, starting from the
    full-sample coefficient; since the prior weights sum to one and the start is constant,
    each IRLS iteration depends only on the replicate proportion ``p``. Convergence stops at
    R's deviance criterion, so the returned coefficients carry R's (small) IRLS error too.

    Parameters
    ----------
    p : (..., R) replicate proportions ``sum w_r y / sum w_r``.
    start : broadcastable to ``p``: the full-sample IRLS coefficient ``B0``.
    """
    p = np.asarray(p, dtype=float)
    coef = np.broadcast_to(np.asarray(start, dtype=float), p.shape).copy()
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        devold = _deviance(p, 1 - p, linkinv(coef))
        done = ~np.isfinite(coef) | ~np.isfinite(p)
        for _ in range(_MAXIT):
            active = ~done
            if not active.any():
                break
            new = coef + (p - linkinv(coef)) / mu_eta(coef)
            coef = np.where(active, new, coef)
            dev = _deviance(p, 1 - p, linkinv(coef))
            done |= (np.abs(dev - devold) / (np.abs(dev) + 0.1) < _EPSILON) | ~np.isfinite(dev)
            devold = np.where(active, dev, devold)
    return coef


# ---------------------------------------------------------------------- the interval
def profile_interval(fit: LogisticFit, coef_var: np.ndarray, df: np.ndarray | float,
                     level: float) -> tuple[np.ndarray, np.ndarray]:
    """Profile-likelihood interval for every domain and proportion of ``fit`` (R's algorithm).

    Parameters
    ----------
    fit : the intercept-only fits (:func:`fit_logistic`).
    coef_var : (D, k) design variance of the coefficient ``B0`` (``vcov(svyglm)``).
    df : (D, k) or scalar denominator degrees of freedom (``ddf = degf(design)``); ``inf``
        for normal quantiles.
    level : confidence level.

    Returns
    -------
    lo, hi : (D, k) bounds on the proportion scale; NaN where R gives NA or stops (no
        finite variance, df <= 0, or the profile does not reach the cutoff).
    """
    coef = fit.coef
    shape = coef.shape
    coef_var = np.broadcast_to(np.asarray(coef_var, dtype=float), shape)
    df = np.broadcast_to(np.asarray(df, dtype=float), shape)
    lo = np.full(shape, np.nan)
    hi = np.full(shape, np.nan)
    _, alpha, zmax = profile_settings(fit, coef_var, df, level)
    ok = (np.isfinite(coef) & np.isfinite(coef_var) & (coef_var > 0) & (df > 0)
          & np.isfinite(zmax) & (fit.dispersion > 0))
    cells = np.nonzero(ok)
    if len(cells[0]):
        lo[cells], hi[cells] = _intervals(
            b0=coef[cells], se=np.sqrt(coef_var[cells]), dev0=fit.deviance[cells],
            s1=fit.s1[cells], s0=fit.s0[cells], dispersion=fit.dispersion[cells],
            zmax=zmax[cells], alpha=alpha[cells])
    return lo, hi


def _intervals(*, b0: np.ndarray, se: np.ndarray, dev0: np.ndarray, s1: np.ndarray,
               s0: np.ndarray, dispersion: np.ndarray, zmax: np.ndarray, alpha: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_one_interval` for many models at once, with the same floating-point operations.

    The profile steps are computed for all models together; models with the same number of
    profile points share one vectorized spline; R's sort/tie handling (``regularize.values``)
    is needed only when a profile is not strictly increasing, and those models take the
    one-at-a-time path.
    """
    n = len(b0)
    lo = np.full(n, np.nan)
    hi = np.full(n, np.nan)
    steps = np.arange(1, _MAXSTEPS, dtype=float)  # R: while ((step <- step + 1) < maxsteps ...)
    step_size = zmax / 5
    bs, zs, keep = [b0[:, None]], [np.zeros((n, 1))], [np.ones((n, 1), dtype=bool)]
    stopped = np.zeros(n, dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for sgn in (-1.0, 1.0):
            bi = b0[:, None] + sgn * steps[None, :] * step_size[:, None] * se[:, None]
            dev = _deviance(s1[:, None], s0[:, None], linkinv(bi))
            zz = (dev - dev0[:, None]) / dispersion[:, None]
            z = sgn * np.sqrt(np.maximum(zz, 0.0))
            # step s + 1 is taken only while |z_s| < zmax
            reached = ~(np.abs(z) < zmax[:, None])
            taken = np.concatenate([np.ones((n, 1), dtype=bool),
                                    np.cumprod(~reached[:, :-1], axis=1).astype(bool)], axis=1)
            stopped |= (taken & ~(zz > -1e-3)).any(axis=1)  # "found a better solution"
            bs.append(bi)
            zs.append(z)
            keep.append(taken)
    b_all = np.concatenate(bs, axis=1)
    z_all = np.where(np.concatenate(keep, axis=1), np.concatenate(zs, axis=1), np.nan)
    order = np.argsort(z_all, axis=1, kind="stable")  # NaN (steps not taken) sort last
    b_all = np.take_along_axis(b_all, order, axis=1)
    z_all = np.take_along_axis(z_all, order, axis=1)
    m = np.isfinite(z_all).sum(axis=1)
    cutoff = np.column_stack([stats.norm.ppf(2 * alpha), stats.norm.isf(2 * alpha)])
    usable = ~stopped & np.isfinite(b_all).all(axis=1)
    for size in np.unique(m[usable]):
        rows = np.flatnonzero(usable & (m == size))
        x = b_all[rows, :size]
        y = z_all[rows, :size]
        simple = (np.diff(x, axis=1) > 0).all(axis=1)
        for r in rows[~simple]:  # ties or unsorted x: R's regularize.values, one at a time
            k = int(np.flatnonzero(rows == r)[0])
            sx, sy = spline(x[k], y[k])
            lo[r], hi[r] = linkinv(approx(sy, sx, cutoff[r]))
        rows, x, y = rows[simple], x[simple], y[simple]
        if not len(rows):
            continue
        xout = r_seq(x[:, 0], x[:, -1], 3 * size)
        b, c, d = fmm_spline(x, y)
        sy = spline_eval(xout, x, y, b, c, d)
        bounds = _approx_sorted(sy, xout, cutoff[rows])
        lo[rows], hi[rows] = linkinv(bounds[:, 0]), linkinv(bounds[:, 1])
    return lo, hi


def _approx_sorted(x: np.ndarray, y: np.ndarray, v: np.ndarray) -> np.ndarray:
    """R's ``approx`` (C ``approx1``, ``rule = 1``) row by row, for rows of ``x`` that are
    strictly increasing; rows that are not are handed to :func:`approx`."""
    out = np.full(v.shape, np.nan)
    increasing = (np.diff(x, axis=1) > 0).all(axis=1)
    for r in np.flatnonzero(~increasing):
        out[r] = approx(x[r], y[r], v[r])
    rows = np.flatnonzero(increasing)
    xs, ys, vs = x[rows], y[rows], v[rows]
    n = xs.shape[1]
    i = np.clip((xs[:, None, :] <= vs[:, :, None]).sum(axis=2) - 1, 0, n - 2)
    j = i + 1
    xi, xj = np.take_along_axis(xs, i, axis=1), np.take_along_axis(xs, j, axis=1)
    yi, yj = np.take_along_axis(ys, i, axis=1), np.take_along_axis(ys, j, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        linear = yi + (yj - yi) * ((vs - xi) / (xj - xi))
        val = np.where(vs == xj, yj, np.where(vs == xi, yi, linear))
    inside = (vs >= xs[:, :1]) & (vs <= xs[:, -1:])
    out[rows] = np.where(inside, val, np.nan)
    return out


def profile_points(*, b0: float, se: float, dev0: float, s1: float, s0: float,
                   dispersion: float, zmax: float) -> tuple[np.ndarray, np.ndarray] | None:
    """``MASSprofile_glm`` for the intercept: coefficients ``b`` and signed roots ``z``.

    Sorted by ``z`` as R does; ``None`` where R stops because a step found a lower deviance
    than the fit ("profiling has found a better solution").
    """
    step_size = zmax / 5
    zs = [0.0]
    bs = [b0]
    for sgn in (-1.0, 1.0):
        step = 0
        z = 0.0
        while (step := step + 1) < _MAXSTEPS and abs(z) < zmax:
            bi = b0 + sgn * step * step_size * se
            dev = float(_deviance(np.float64(s1), np.float64(s0), linkinv(np.float64(bi))))
            zz = (dev - dev0) / dispersion
            if zz > -1e-3:
                zz = max(zz, 0.0)
            else:
                return None
            z = sgn * np.sqrt(zz)
            zs.append(z)
            bs.append(bi)
    order = np.argsort(np.asarray(zs), kind="stable")
    return np.asarray(bs)[order], np.asarray(zs)[order]


def profile_settings(fit: LogisticFit, coef_var: np.ndarray, df: np.ndarray | float,
                     level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``lambda``, ``alpha`` and ``zmax`` of ``confint.svyglm``/``MASSprofile_glm`` (D, k).

    ``lambda = var(B0) / naive var``; ``alpha = pnorm(q sqrt(lambda)) / 2`` with ``q`` the
    ``(1 - level)/2`` quantile of t on ``df`` (normal when infinite); ``zmax = sqrt(qf(alpha,
    1, n - 1, lower.tail = FALSE))``.
    """
    shape = fit.coef.shape
    coef_var = np.broadcast_to(np.asarray(coef_var, dtype=float), shape)
    df = np.broadcast_to(np.asarray(df, dtype=float), shape)
    n = np.broadcast_to(fit.n_rows[:, None], shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = coef_var / fit.naive_var
        q = np.where(np.isinf(df), stats.norm.ppf((1 - level) / 2),
                     stats.t.ppf((1 - level) / 2, np.where(df > 0, df, 1.0)))
        alpha = stats.norm.cdf(q * np.sqrt(lam)) / 2
        zmax = np.sqrt(stats.f.isf(alpha, 1, n - 1))
    return lam, alpha, zmax


def _one_interval(*, b0: float, se: float, dev0: float, s1: float, s0: float,
                  dispersion: float, zmax: float, alpha: float) -> tuple[float, float]:
    """``MASSprofile_glm`` + ``confint_profile`` for one intercept-only model."""
    points = profile_points(b0=b0, se=se, dev0=dev0, s1=s1, s0=s0, dispersion=dispersion,
                            zmax=zmax)
    if points is None:
        return np.nan, np.nan
    sx, sy = spline(*points)
    cutoff = np.array([stats.norm.ppf(2 * alpha), stats.norm.isf(2 * alpha)])
    lo, hi = linkinv(approx(sy, sx, cutoff))
    return float(lo), float(hi)


# ---------------------------------------------------------------------- R's spline/approx
def _regularize(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """R ``regularize.values(x, y, ties = mean)``: drop NA, sort by x, average tied x."""
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    if np.any(np.diff(x) < 0):
        o = np.argsort(x, kind="stable")
        x, y = x[o], y[o]
    ux, first, counts = np.unique(x, return_index=True, return_counts=True)
    if len(ux) < len(x):
        # R groups by match(x, x) in order of first appearance; x is sorted, so that is ux order
        inv = np.repeat(np.arange(len(ux)), counts)
        y = np.bincount(inv, weights=y) / counts
        x = ux
    return x, y


def fmm_spline(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients ``b, c, d`` of R's ``fmm`` cubic spline (C ``fmm_spline``, splines.c).

    Forsythe, Malcolm & Moler (1977): end conditions match the third derivatives of the
    cubics through the first and last four points. ``S(u) = y_i + b_i t + c_i t^2 + d_i t^3``
    with ``t = u - x_i``. Transcribed line by line (1-based in C, 0-based here) along the last
    axis, so that a stack of splines with the same number of knots is solved at once with the
    same floating-point operations as one.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = x.shape[-1]
    b = np.zeros(x.shape)
    c = np.zeros(x.shape)
    d = np.zeros(x.shape)
    if n < 2:
        return b, c, d
    if n < 3:
        t = y[..., 1] - y[..., 0]
        b[..., 0] = t / (x[..., 1] - x[..., 0])
        b[..., 1] = b[..., 0]
        return b, c, d
    nm1 = n - 1  # C index n-1 is python n-2; use C names with a -1 shift below
    # C: d[1] = x[2]-x[1]; c[2] = (y[2]-y[1])/d[1]
    d[..., 0] = x[..., 1] - x[..., 0]
    c[..., 1] = (y[..., 1] - y[..., 0]) / d[..., 0]
    for i in range(1, n - 1):  # C i = 2 .. n-1
        d[..., i] = x[..., i + 1] - x[..., i]
        b[..., i] = 2.0 * (d[..., i - 1] + d[..., i])
        c[..., i + 1] = (y[..., i + 1] - y[..., i]) / d[..., i]
        c[..., i] = c[..., i + 1] - c[..., i]
    b[..., 0] = -d[..., 0]
    b[..., n - 1] = -d[..., nm1 - 1]
    c[..., 0] = 0.0
    c[..., n - 1] = 0.0
    if n > 3:
        c[..., 0] = c[..., 2] / (x[..., 3] - x[..., 1]) - c[..., 1] / (x[..., 2] - x[..., 0])
        c[..., n - 1] = (c[..., nm1 - 1] / (x[..., n - 1] - x[..., n - 3])
                         - c[..., n - 3] / (x[..., nm1 - 1] - x[..., n - 4]))
        c[..., 0] = c[..., 0] * d[..., 0] * d[..., 0] / (x[..., 3] - x[..., 0])
        c[..., n - 1] = (-c[..., n - 1] * d[..., nm1 - 1] * d[..., nm1 - 1]
                         / (x[..., n - 1] - x[..., n - 4]))
    for i in range(1, n):  # Gaussian elimination, C i = 2 .. n
        t = d[..., i - 1] / b[..., i - 1]
        b[..., i] = b[..., i] - t * d[..., i - 1]
        c[..., i] = c[..., i] - t * c[..., i - 1]
    c[..., n - 1] = c[..., n - 1] / b[..., n - 1]  # backward substitution
    for i in range(n - 2, -1, -1):
        c[..., i] = (c[..., i] - d[..., i] * c[..., i + 1]) / b[..., i]
    b[..., n - 1] = ((y[..., n - 1] - y[..., n - 2]) / d[..., n - 2]
                     + d[..., n - 2] * (c[..., n - 2] + 2.0 * c[..., n - 1]))
    for i in range(n - 1):
        b[..., i] = ((y[..., i + 1] - y[..., i]) / d[..., i]
                     - d[..., i] * (c[..., i + 1] + 2.0 * c[..., i]))
        d[..., i] = (c[..., i + 1] - c[..., i]) / d[..., i]
        c[..., i] = 3.0 * c[..., i]
    c[..., n - 1] = 3.0 * c[..., n - 1]
    d[..., n - 1] = d[..., n - 2]
    return b, c, d


def spline_eval(u: np.ndarray, x: np.ndarray, y: np.ndarray, b: np.ndarray, c: np.ndarray,
                d: np.ndarray) -> np.ndarray:
    """R's C ``spline_eval`` (fmm): ``v = y_i + dx (b_i + dx (c_i + dx d_i))``, ``dx = u - x_i``.

    R walks the increasing ``u`` keeping the interval ``i`` while ``x_i <= u <= x_{i+1}`` and
    re-locates it by bisection (largest ``i`` with ``x_i <= u``) otherwise. For increasing
    ``u`` that is the interval with ``x_i < u`` (so a ``u`` on a knot uses the interval to its
    left), except when ``u`` hits a knot right after a jump of more than one interval. Works
    on the last axis (a stack of splines).
    """
    u = np.asarray(u, dtype=float)
    x = np.asarray(x, dtype=float)
    n = x.shape[-1]
    i = np.clip((x[..., None, :] < u[..., :, None]).sum(axis=-1) - 1, 0, n - 1)
    on_knot = np.nonzero((x[..., None, :] == u[..., :, None])[..., 1:].any(axis=-1))
    for idx in zip(*on_knot, strict=True):  # rare: u exactly on an inner knot
        *row, m = idx
        prev = i[(*row, m - 1)] if m > 0 else 0
        if prev != i[idx]:  # R re-located by bisection: the knot's own interval
            i[idx] += 1
    xi, yi, bi, ci, di = (np.take_along_axis(a, i, axis=-1) for a in (x, y, b, c, d))
    dx = u - xi
    return yi + dx * (bi + dx * (ci + dx * di))


def r_seq(start: np.ndarray | float, stop: np.ndarray | float, length: int) -> np.ndarray:
    """R ``seq.int(from, to, length.out=)`` for doubles: ``from + i * by``, last = ``to``.

    ``start``/``stop`` may be arrays (one sequence per element, along a new last axis).
    """
    start = np.asarray(start, dtype=float)[..., None]
    stop = np.asarray(stop, dtype=float)[..., None]
    if length == 1:
        return start.copy()
    by = (stop - start) / (length - 1)
    out = start + np.arange(length) * by
    out[..., -1] = stop[..., 0]
    return out


def spline(x: np.ndarray, y: np.ndarray, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """R ``spline(x, y)`` with the default ``method="fmm"``.

    R's defaults ``n = 3 * length(x)``, ``xmin = min(x)``, ``xmax = max(x)`` are promises
    evaluated after ``x`` has been regularized, so ``n`` counts the distinct x values.
    """
    x, y = _regularize(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    if n is None:
        n = 3 * len(x)
    xout = r_seq(float(np.min(x)), float(np.max(x)), n)
    b, c, d = fmm_spline(x, y)
    return xout, spline_eval(xout, x, y, b, c, d)


def approx(x: np.ndarray, y: np.ndarray, xout: np.ndarray) -> np.ndarray:
    """R ``approx(x, y, xout)``: linear interpolation, ``rule = 1`` (NA outside the range)."""
    x, y = _regularize(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    out = np.empty(len(xout))
    n = len(x)
    for m, v in enumerate(np.asarray(xout, dtype=float)):
        if n == 0 or np.isnan(v) or v < x[0] or v > x[n - 1]:
            out[m] = np.nan
            continue
        i, j = 0, n - 1
        while i < j - 1:
            ij = (i + j) // 2
            if v < x[ij]:
                j = ij
            else:
                i = ij
        if v == x[j]:
            out[m] = y[j]
        elif v == x[i]:
            out[m] = y[i]
        else:
            out[m] = y[i] + (y[j] - y[i]) * ((v - x[i]) / (x[j] - x[i]))
    return out


def indicator_from_influence(codes: np.ndarray, weights: np.ndarray, estimate: np.ndarray,
                             influence: np.ndarray) -> np.ndarray:
    """The 0/1 indicator of a proportion, recovered exactly from its influence values.

    For a proportion ``p_d = sum_d w y / sum_d w`` the influence value of row ``i`` is
    ``w_i (y_i - p_d) / sum_d w``, so ``y_i = p_d + z_i sum_d w / w_i`` (rounded to 0/1).
    Rows with zero weight or outside every domain get 0; they do not enter the fit.
    """
    n_dom = estimate.shape[0]
    inside = codes >= 0
    d = np.where(inside, codes, 0)
    w = np.asarray(weights, dtype=float)
    sum_w = np.bincount(d[inside], weights=w[inside], minlength=n_dom)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = estimate[d] + influence * (sum_w[d] / w)[:, None]
    ok = inside & (w != 0)
    return np.where(ok[:, None], (y > 0.5).astype(float), 0.0)


def taylor_variances(design: SurveyDesign, codes: np.ndarray, n_domains: int,
                     influence: np.ndarray, estimate: np.ndarray,
                     fit: LogisticFit) -> tuple[np.ndarray, np.ndarray]:
    """Linearized covariance of the proportions and variance of R's logit coefficient ``B0``.

    ``svymean`` centres the influence values at the weighted mean ``p``; ``svy.varcoef``
    centres them at the IRLS fit ``mu = expit(B0)``: ``w (y - mu) / sum w = z + (p - mu) b``
    with ``b = w / sum w``. Both come from one pass of the linearization engine on the
    columns ``(z, b)``; the coefficient's variance is then ``var(z + (p - mu) b) / (mu (1 -
    mu))^2``. (Centring at ``p`` instead would move the interval by ~1e-11 relative.)

    Returns
    -------
    cov : (D, k, k) covariance of the proportions (as ``linearization.vcov``).
    coef_var : (D, k) variance of ``B0``.
    """
    k = influence.shape[1]
    inside = codes >= 0
    d = np.where(inside, codes, 0)
    w = design.weights
    sum_w = np.bincount(d[inside], weights=w[inside], minlength=n_domains)
    with np.errstate(divide="ignore", invalid="ignore"):
        b = np.where(inside, w / sum_w[d], 0.0)
    full = linearization.vcov(design, np.column_stack([influence, b]), codes, n_domains)
    cov = full[:, :k, :k]
    delta = estimate - fit.mu
    var_z = np.diagonal(cov, axis1=1, axis2=2)
    cov_zb = full[:, :k, k]
    var_b = full[:, k, k][:, None]
    coef_var = (var_z + 2 * delta * cov_zb + delta**2 * var_b) / mu_eta(fit.coef) ** 2
    return cov, coef_var

# The pieces of svyciprop(method = "likelihood") one by one, so that each step of
# analysis/likelihood_ci.py is checked on its own (tests/stats/test_likelihood_ci.py):
#
# * "spline": stats::spline(x, y) (method "fmm", n = 3 * length(x)) on assorted points,
#   including 2 and 3 points (the short branches of fmm_spline), unsorted and tied x;
# * "approx": stats::approx(x, y, xout) including exact knots and points outside (NA);
# * "profile": for three designs/domains, the svyglm fit (IRLS coefficient, iterations,
#   deviance, naive.cov, cov.unscaled, dispersion), lambda, alpha, zmax, the profile points of
#   survey:::MASSprofile_glm (its "tau" column) and the interval of confint(..., method = "likelihood").
#
# Writes tests/fixtures/r_likelihood.json (via scripts/make_r_reference.R).

cases <- function() {
  out <- list()
  add <- function(x) out[[length(out) + 1]] <<- x
  set.seed(42)
  for (n in c(2, 3, 4, 5, 9, 19)) {
    # inputs with few digits, so that the JSON (15 significant digits) carries them exactly
    x <- round(sort(runif(n, -2, 2)), 6)
    y <- round(sin(x) + x^2 / 3, 10)
    sp <- spline(x, y)
    add(list(id = paste0("spline_", n), kind = "spline", x = x, y = y, sx = sp$x, sy = sp$y))
  }
  x <- c(0.5, -1.2, 2.2, 0.1, -0.4, 1.6)  # unsorted
  y <- round(exp(x), 10)
  sp <- spline(x, y)
  add(list(id = "spline_unsorted", kind = "spline", x = x, y = y, sx = sp$x, sy = sp$y))
  x <- c(-1, 0, 0, 1, 2, 2, 3)  # tied x: y averaged (R warns "collapsing to unique 'x'")
  y <- c(1, 2, 4, 3, 5, 7, 6)
  sp <- suppressWarnings(spline(x, y))
  add(list(id = "spline_ties", kind = "spline", x = x, y = y, sx = sp$x, sy = sp$y))

  x <- c(-2.5, -1, 0, 0.7, 1.9)
  y <- c(0.1, 0.4, 0.45, 0.8, 0.95)
  xout <- c(-3, -2.5, -1.7, 0, 0.35, 1.9, 2)
  add(list(id = "approx", kind = "approx", x = x, y = y, xout = xout,
           yout = approx(x, y, xout)$y))

  setups <- list(
    list(id = "profile_clus1", data = "apiclus1",
         design = design_spec(psu = "dnum", weights = "pw", fpc = "fpc"),
         des = svydesign(id = ~dnum, weights = ~pw, data = apiclus1, fpc = ~fpc),
         variable = "sch.wide", domain = NULL),
    list(id = "profile_strat_E", data = "apistrat",
         design = design_spec(strata = "stype", weights = "pw", fpc = "fpc"),
         des = svydesign(id = ~1, strata = ~stype, weights = ~pw, data = apistrat, fpc = ~fpc),
         variable = "awards", domain = "E"),
    list(id = "profile_clus2_H", data = "apiclus2",
         design = design_spec(psu = c("dnum", "snum"), fpc = c("fpc1", "fpc2")),
         des = svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = apiclus2),
         variable = "awards", domain = "H")
  )
  for (s in setups) {
    des <- s$des
    if (!is.null(s$domain)) des <- des[des$variables$stype == s$domain, ]
    f <- as.formula(paste0("I(as.character(", s$variable, ") == 'Yes') ~ 1"))
    m <- svyglm(f, des, family = quasibinomial)
    summ <- summary(m)
    ddf <- degf(des)
    lambda <- drop(m$cov.unscaled / m$naive.cov)
    alpha <- pnorm(qt(0.025, df = ddf) * sqrt(lambda)) / 2
    prof <- survey:::MASSprofile_glm(m, which = 1, alpha = alpha)[[1]]
    ci <- confint(m, 1, level = 0.95, method = "likelihood", ddf = ddf)
    add(list(id = s$id, kind = "profile", data = s$data, design = s$design,
             variable = s$variable, value = "Yes", domain = s$domain,
             call = "svyglm(I(y == 'Yes') ~ 1, d, family = quasibinomial); confint(method = 'likelihood')",
             coef = unname(coef(m)), iter = m$iter, deviance = m$deviance,
             naive_cov = drop(m$naive.cov), cov_unscaled = drop(m$cov.unscaled),
             dispersion = drop(unclass(summ$dispersion)), n = nrow(des), ddf = ddf,
             lambda = lambda, alpha = alpha,
             zmax = sqrt(qf(alpha, 1, nrow(des) - 1, lower.tail = FALSE)),
             z = prof[[1]], par = as.vector(prof$par.vals),
             ci = unname(as.vector(ci)), ci_p = unname(plogis(as.vector(ci)))))
  }
  out
}

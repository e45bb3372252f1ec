# Helpers shared by the reference-case files: turn survey results into plain rows.
#
# A case is list(id, data, design, call, statistic, variables, by, level, rows) where `design`
# names the columns as analysis.SurveyDesign.from_frame takes them and `rows` holds one entry
# per domain x variable: domain labels, estimate, se, ci_low, ci_high, df, deff.

design_spec <- function(psu = NULL, strata = NULL, weights = NULL, probs = NULL, fpc = NULL,
                        nest = FALSE, lonely_psu = "fail") {
  list(psu = psu, strata = strata, weights = weights, probs = probs, fpc = fpc, nest = nest,
       lonely_psu = lonely_psu)
}

num <- function(x) if (is.null(x)) NULL else unname(as.numeric(x))

# rows from a svystat (svymean/svytotal) on the whole design
stat_rows <- function(stat, design, level = 0.95, domain = list()) {
  est <- coef(stat); se <- SE(stat)
  df <- degf(design)
  ci <- confint(stat, level = level, df = df)
  d <- attr(stat, "deff")
  lapply(seq_along(est), function(i) list(
    domain = domain, variable = names(est)[i], estimate = num(est[i]), se = num(se[i]),
    ci_low = num(ci[i, 1]), ci_high = num(ci[i, 2]), df = df,
    deff = if (is.null(d)) NULL else num(if (is.matrix(d)) diag(d)[i] else d[i])))
}

# rows from a per-domain computation: FUN(subdesign) returns rows for one domain
by_rows <- function(design, by, FUN) {
  f <- interaction(lapply(by, function(b) design$variables[[b]]), drop = TRUE)
  out <- list()
  for (lev in levels(f)) {
    idx <- which(f == lev)
    first <- idx[1]
    domain <- lapply(setNames(by, by), function(b) {
      v <- design$variables[[b]][first]
      if (is.factor(v)) as.character(v) else v
    })
    sub <- design[!is.na(f) & f == lev, ]
    out <- c(out, FUN(sub, domain))
  }
  out
}

case <- function(id, data, design, call, statistic, variables, rows, by = NULL, level = 0.95,
                 ci_method = NULL, extra = list()) {
  c(list(id = id, data = data, design = design, call = call, statistic = statistic,
         variables = as.list(variables), by = if (is.null(by)) NULL else as.list(by),
         level = level, ci_method = ci_method, rows = rows), extra)
}

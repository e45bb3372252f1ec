# Replicate-weight designs: as.svrepdesign JK1/JKn/BRR/Fay on the api data (and R's scd), and
# user-supplied replicate weights through svrepdesign (JK1, JKn, BRR, bootstrap columns), with
# mean/total/ratio/proportion overall and by domain, deff where R gives it, and degf.
#
# Writes (via scripts/make_r_reference.R, which sources this file):
#   tests/fixtures/r_replicates.json
#   tests/fixtures/data/{stratclus,apistrat_pairs,scd,apiclus1_rep,stratclus_rep,
#                        apistrat_rep}.csv
#
# Each estimator case has `design` (the Taylor design, as in core.R) plus either `replicates`
# (arguments of as.svrepdesign: kind, fay_rho, mse) or `svrep` (arguments of svrepdesign on
# columns of the data), and `design_id` naming a block "<name>_design" with R's degf, scale,
# rscales and, for BRR and some JKn designs, the replicate factors themselves. CI bounds use confint(..., df = degf(design)), as stat_rows does;
# proportions use svyciprop (its "likelihood" method returns NA on replicate designs in
# survey 4.1.1, so it is not a case here).

out_csv <- function(d, name) {
  write.csv(d, file.path("tests/fixtures/data", paste0(name, ".csv")), row.names = FALSE,
            na = "")
}

# svyratio(deff = TRUE) stops on replicate designs in survey 4.1.1 ("incorrect number of
# dimensions"), so ratio rows carry no deff here. Rows with a missing value leave the domain
# (and its degf), as for means and totals.
rep_ratio_rows <- function(numv, denv) function(sub, domain) {
  sub <- complete(sub, c(numv, denv))
  r <- svyratio(reformulate(numv), reformulate(denv), sub, na.rm = TRUE)
  df <- degf(sub)
  ci <- confint(r, df = df)
  lapply(seq_along(numv), function(i) list(
    domain = domain, variable = paste0(numv[i], "/", denv), estimate = num(coef(r)[i]),
    se = num(SE(r)[i]), ci_low = num(ci[i, 1]), ci_high = num(ci[i, 2]), df = df))
}
complete <- function(sub, vars) {
  mf <- model.frame(reformulate(vars), sub$variables, na.action = na.pass)
  sub[complete.cases(mf), ]
}
mean_rows <- function(vars) function(sub, domain) {
  sub <- complete(sub, vars)
  stat_rows(svymean(reformulate(vars), sub, deff = TRUE), sub, domain = domain)
}
total_rows <- function(vars) function(sub, domain) {
  sub <- complete(sub, vars)
  stat_rows(svytotal(reformulate(vars), sub, deff = TRUE), sub, domain = domain)
}
prop_rows <- function(var, value, method, level = 0.95) function(sub, domain) {
  f <- as.formula(paste0("~I(as.character(", var, ") == '", value, "')"))
  p <- svyciprop(f, sub, method = method, level = level)
  m <- svymean(as.formula(paste0("~as.numeric(as.character(", var, ") == '", value, "')")),
               sub, deff = TRUE)
  ci <- attr(p, "ci")
  list(list(domain = domain, variable = paste0(var, "=", value), estimate = num(coef(m)),
            estimate_r = num(p), se = num(SE(m)), ci_low = num(ci[1]), ci_high = num(ci[2]),
            df = degf(sub), n_rows = nrow(sub), deff = num(attr(m, "deff"))))
}
whole <- function(design, FUN) FUN(design, list())

# JSON has no infinity: write R's Inf/-Inf (deff of a census, N = n) as strings
inf_as_text <- function(rows) lapply(rows, function(r) lapply(r, function(v)
  if (is.numeric(v) && length(v) == 1 && is.infinite(v)) (if (v > 0) "Inf" else "-Inf") else v))

# the data sets built here
stratclus_data <- function() {
  d <- apiclus1
  psus <- sort(unique(d$dnum))
  d$stratum <- c(rep("A", 5), rep("B", 5), rep("C", 5))[match(d$dnum, psus)]
  d$stratum_lonely <- c(rep("A", 5), rep("B", 5), rep("C", 4), "D")[match(d$dnum, psus)]
  d
}
pairs_data <- function() {
  d <- apistrat[order(apistrat$stype, apistrat$snum), ]
  d$pair <- (seq_len(nrow(d)) + 1) %/% 2       # 100 strata of two schools, within stype
  d
}

# replicate designs: list(name, data name, Taylor spec, replicate spec, R design, vars)
rep_designs <- function() {
  sc <- stratclus_data()
  pr <- pairs_data()
  data(scd, envir = environment())
  clus1 <- svydesign(id = ~dnum, weights = ~pw, data = apiclus1, fpc = ~fpc)
  clus1_nofpc <- svydesign(id = ~dnum, weights = ~pw, data = apiclus1)
  strat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, data = apistrat, fpc = ~fpc)
  strat_nofpc <- svydesign(id = ~1, strata = ~stype, weights = ~pw, data = apistrat)
  stratclus <- svydesign(id = ~dnum, strata = ~stratum, weights = ~pw, data = sc)
  clus2 <- svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = apiclus2)
  pairs <- svydesign(id = ~snum, strata = ~pair, weights = ~pw, data = pr)
  scd_d <- svydesign(data = scd, prob = ~1, id = ~ambulance, strata = ~ESA, nest = TRUE)
  rs <- function(kind, fay_rho = 0, mse = FALSE) list(kind = kind, fay_rho = fay_rho, mse = mse)
  av <- c("api00", "api99")
  out <- list(
    list("clus1_jk1", "apiclus1", design_spec(psu = "dnum", weights = "pw", fpc = "fpc"),
         rs("JK1"), as.svrepdesign(clus1, type = "JK1"), av),
    list("clus1_nofpc_jk1", "apiclus1", design_spec(psu = "dnum", weights = "pw"),
         rs("JK1"), as.svrepdesign(clus1_nofpc, type = "JK1"), av),
    list("clus1_jk1_mse", "apiclus1", design_spec(psu = "dnum", weights = "pw", fpc = "fpc"),
         rs("JK1", mse = TRUE), as.svrepdesign(clus1, type = "JK1", mse = TRUE), av),
    list("clus2_jk1", "apiclus2", design_spec(psu = c("dnum", "snum"), fpc = c("fpc1", "fpc2")),
         rs("JK1"), suppressWarnings(as.svrepdesign(clus2, type = "JK1")), c("api00", "enroll")),
    list("strat_jkn", "apistrat", design_spec(strata = "stype", weights = "pw", fpc = "fpc"),
         rs("JKn"), as.svrepdesign(strat, type = "JKn"), av),
    list("strat_nofpc_jkn", "apistrat", design_spec(strata = "stype", weights = "pw"),
         rs("JKn"), as.svrepdesign(strat_nofpc, type = "JKn"), av),
    list("strat_jkn_mse", "apistrat", design_spec(strata = "stype", weights = "pw", fpc = "fpc"),
         rs("JKn", mse = TRUE), as.svrepdesign(strat, type = "JKn", mse = TRUE), av),
    list("stratclus_jkn", "stratclus", design_spec(psu = "dnum", strata = "stratum",
                                                   weights = "pw"),
         rs("JKn"), as.svrepdesign(stratclus, type = "JKn"), av),
    list("pairs_brr", "apistrat_pairs", design_spec(psu = "snum", strata = "pair", weights = "pw"),
         rs("BRR"), as.svrepdesign(pairs, type = "BRR"), av),
    list("pairs_fay", "apistrat_pairs", design_spec(psu = "snum", strata = "pair", weights = "pw"),
         rs("BRR", fay_rho = 0.5), as.svrepdesign(pairs, type = "Fay", fay.rho = 0.5), av),
    list("pairs_brr_mse", "apistrat_pairs", design_spec(psu = "snum", strata = "pair",
                                                        weights = "pw"),
         rs("BRR", mse = TRUE), as.svrepdesign(pairs, type = "BRR", mse = TRUE), av),
    list("scd_brr", "scd", design_spec(psu = "ambulance", strata = "ESA", nest = TRUE),
         rs("BRR"), as.svrepdesign(scd_d, type = "BRR"), c("arrests", "alive"))
  )
  # JKn with a lonely PSU: every rule (survey.lonely.psu is read by jknweights)
  for (rule in c("adjust", "average", "remove", "certainty")) {
    options(survey.lonely.psu = rule)
    des <- svydesign(id = ~dnum, strata = ~stratum_lonely, weights = ~pw, data = sc)
    out[[length(out) + 1]] <- list(
      paste0("lonely_", rule, "_jkn"), "stratclus",
      design_spec(psu = "dnum", strata = "stratum_lonely", weights = "pw", lonely_psu = rule),
      rs("JKn"), as.svrepdesign(des, type = "JKn"), av)
  }
  options(survey.lonely.psu = "fail")
  out
}

# user-supplied replicate weights (svrepdesign on columns): list(name, data, svrep spec, design)
user_designs <- function() {
  data(scd, envir = environment())
  brrw <- 2 * cbind(c(1, 0, 1, 0, 1, 0), c(1, 0, 0, 1, 0, 1), c(0, 1, 1, 0, 0, 1),
                    c(0, 1, 0, 1, 1, 0))
  scd_rep <- cbind(scd, setNames(as.data.frame(brrw), paste0("rep", 1:4)))
  out_csv(scd_rep, "scd")
  # JK1 weights of apiclus1 (no fpc) as columns, then read back as combined weights
  jk <- as.svrepdesign(svydesign(id = ~dnum, weights = ~pw, data = apiclus1), type = "JK1",
                       compress = FALSE)
  jkw <- matrix(unclass(weights(jk, "analysis")), nrow = nrow(apiclus1))
  c1 <- cbind(apiclus1, setNames(as.data.frame(jkw), sprintf("jkw%02d", seq_len(ncol(jkw)))))
  out_csv(c1, "apiclus1_rep")
  # JKn weights of the stratified cluster design, and R's bootstrap weights of apistrat
  sc <- stratclus_data()
  jkn <- as.svrepdesign(svydesign(id = ~dnum, strata = ~stratum, weights = ~pw, data = sc),
                        type = "JKn", compress = FALSE)
  jknw <- matrix(unclass(weights(jkn, "analysis")), nrow = nrow(sc))
  sc_rep <- cbind(sc, setNames(as.data.frame(jknw), sprintf("jknw%02d", seq_len(ncol(jknw)))))
  out_csv(sc_rep, "stratclus_rep")
  set.seed(20240611)
  boot <- as.svrepdesign(svydesign(id = ~1, strata = ~stype, weights = ~pw, data = apistrat),
                         type = "bootstrap", replicates = 50, compress = FALSE)
  bw <- matrix(unclass(weights(boot, "analysis")), nrow = nrow(apistrat))
  s1 <- cbind(apistrat, setNames(as.data.frame(bw), sprintf("bw%02d", seq_len(ncol(bw)))))
  out_csv(s1, "apistrat_rep")
  sv <- function(weights, repweights, kind, scale = NULL, rscales = NULL, mse = FALSE,
                 combined = TRUE)
    list(weights = weights, repweights = repweights, kind = kind, scale = scale,
         rscales = if (is.null(rscales)) NULL else as.list(num(rscales)), mse = mse,
         combined_weights = combined)
  list(
    list("user_scd_brr", "scd", sv(NULL, "^rep[0-9]+$", "BRR", combined = FALSE),
         suppressWarnings(svrepdesign(data = scd_rep, type = "BRR", repweights = brrw,
                                      combined.weights = FALSE)),
         c("arrests", "alive")),
    list("user_clus1_jk1", "apiclus1_rep", sv("pw", "^jkw[0-9]+$", "JK1", scale = 14 / 15),
         svrepdesign(data = c1, type = "JK1", repweights = "^jkw[0-9]+$", weights = ~pw,
                     scale = 14 / 15, combined.weights = TRUE),
         c("api00", "api99")),
    list("user_stratclus_jkn_mse", "stratclus_rep",
         sv("pw", "^jknw[0-9]+$", "JKn", scale = 1, rscales = jkn$rscales, mse = TRUE),
         svrepdesign(data = sc_rep, type = "JKn", repweights = "^jknw[0-9]+$", weights = ~pw,
                     scale = 1, rscales = jkn$rscales, combined.weights = TRUE, mse = TRUE),
         c("api00", "api99")),
    list("user_strat_bootstrap", "apistrat_rep", sv("pw", "^bw[0-9]+$", "bootstrap"),
         svrepdesign(data = s1, type = "bootstrap", repweights = "^bw[0-9]+$", weights = ~pw,
                     combined.weights = TRUE),
         c("api00", "api99"))
  )
}

estimator_cases <- function(id, data, extra, des, vars, by = "stype", props = TRUE) {
  cs <- list()
  add <- function(x) {
    x$rows <- inf_as_text(x$rows)
    cs[[length(cs) + 1]] <<- x
  }
  spec <- extra$design
  ex <- extra[names(extra) != "design"]
  total_var <- vars[length(vars)]
  add(case(paste0(id, "_mean"), data, spec, paste0("svymean(~", paste(vars, collapse = "+"),
           ", d, deff=TRUE)"), "mean", vars, whole(des, mean_rows(vars)), extra = ex))
  add(case(paste0(id, "_total"), data, spec, paste0("svytotal(~", total_var, ", d, deff=TRUE)"),
           "total", total_var, whole(des, total_rows(total_var)), extra = ex))
  add(case(paste0(id, "_ratio"), data, spec, paste0("svyratio(~", vars[1], ", ~", vars[2], ", d)"),
           "ratio", vars[1], whole(des, rep_ratio_rows(vars[1], vars[2])),
           extra = c(ex, list(denominator = vars[2]))))
  if (!is.null(by)) {
    add(case(paste0(id, "_mean_by_", by), data, spec,
             paste0("svyby(~", vars[1], ", ~", by, ", d, svymean, deff=TRUE)"), "mean", vars[1],
             by_rows(des, by, mean_rows(vars[1])), by = by, extra = ex))
    add(case(paste0(id, "_total_by_", by), data, spec,
             paste0("svyby(~", total_var, ", ~", by, ", d, svytotal, deff=TRUE)"), "total",
             total_var, by_rows(des, by, total_rows(total_var)), by = by, extra = ex))
    add(case(paste0(id, "_ratio_by_", by), data, spec,
             paste0("svyby(~", vars[1], ", ~", by, ", d, svyratio, denominator=~", vars[2], ")"),
             "ratio", vars[1], by_rows(des, by, rep_ratio_rows(vars[1], vars[2])), by = by,
             extra = c(ex, list(denominator = vars[2]))))
  }
  if (props) {
    for (method in c("logit", "mean", "beta", "xlogit", "asin")) {
      add(case(paste0(id, "_prop_", method), data, spec,
               paste0("svyciprop(~I(sch.wide=='Yes'), d, method='", method, "')"), "prop",
               "sch.wide", whole(des, prop_rows("sch.wide", "Yes", method)), ci_method = method,
               extra = c(ex, list(value = "Yes"))))
      if (!is.null(by))
        add(case(paste0(id, "_prop_by_", by, "_", method), data, spec,
                 paste0("svyby(~I(awards=='Yes'), ~", by, ", d, svyciprop, method='", method,
                        "')"), "prop", "awards",
                 by_rows(des, by, prop_rows("awards", "Yes", method)), by = by,
                 ci_method = method, extra = c(ex, list(value = "Yes"))))
    }
  }
  cs
}

cases <- function() {
  out_csv(stratclus_data(), "stratclus")
  out_csv(pairs_data(), "apistrat_pairs")
  out <- list()
  for (rd in rep_designs()) {
    id <- rd[[1]]; des <- rd[[5]]; vars <- rd[[6]]
    is_scd <- rd[[2]] == "scd"
    # one block per design: degf, scale, rscales and (BRR, JKn) R's replicate factors
    # (compressed: PSU x replicate, PSUs in order of first appearance)
    info <- list(id = paste0(id, "_design"), data = rd[[2]], design = rd[[3]],
                 replicates = rd[[4]], degf = degf(des), scale = des$scale,
                 rscales = num(des$rscales), n_replicates = ncol(des$repweights$weights))
    if (rd[[4]]$kind == "BRR" || id %in% c("stratclus_jkn", "lonely_adjust_jkn"))
      info$factors <- unname(des$repweights$weights)
    out[[length(out) + 1]] <- info
    extra <- list(design = rd[[3]], replicates = rd[[4]], design_id = info$id)
    out <- c(out, estimator_cases(id, rd[[2]], extra, des, vars,
                                  by = if (is_scd) NULL else "stype", props = !is_scd))
  }
  for (ud in user_designs()) {
    id <- ud[[1]]; des <- ud[[4]]; vars <- ud[[5]]
    is_scd <- ud[[2]] == "scd"
    info <- list(id = paste0(id, "_design"), data = ud[[2]], svrep = ud[[3]],
                 degf = degf(des), scale = des$scale, rscales = num(des$rscales),
                 n_replicates = ncol(des$repweights))
    out[[length(out) + 1]] <- info
    extra <- list(design = NULL, svrep = ud[[3]], design_id = info$id)
    out <- c(out, estimator_cases(id, ud[[2]], extra, des, vars,
                                  by = if (is_scd) NULL else "stype", props = !is_scd))
  }
  # R's rank rule for degf: qr(x, tol = 1e-5)$rank (LINPACK dqrdc2) on matrices with a
  # column that is a combination of others up to a relative perturbation eps (some above,
  # some below the tolerance); entries rounded so that the JSON carries them exactly
  set.seed(7)
  ranks <- list()
  for (eps in c(1e-2, 1e-3, 1e-4, 3e-5, 1.2e-5, 8e-6, 3e-6, 1e-6, 1e-8, 0)) {
    for (shape in list(c(12, 6), c(5, 9), c(30, 4))) {
      x <- matrix(round(rnorm(shape[1] * shape[2]), 3), shape[1], shape[2])
      x[, shape[2]] <- round(x[, 1] - 2 * x[, 2] + eps * round(rnorm(shape[1]), 3), 12)
      ranks[[length(ranks) + 1]] <- list(eps = eps, x = unname(x), rank = qr(x, tol = 1e-5)$rank)
    }
  }
  out[[length(out) + 1]] <- list(id = "qr_rank", call = "qr(x, tol = 1e-5)$rank",
                                 matrices = ranks)
  # R's Hadamard matrices (the BRR replicate sets), as rows of 0/1 characters
  ns <- c(1:40, 44, 47, 52, 56, 60, 63, 64, 67, 70, 71, 76, 80, 83, 88, 95, 100, 103, 107,
          120, 127, 131, 140, 150, 160, 191, 200)
  had <- lapply(ns, function(n) list(n = n, rows = apply(hadamard(n), 1, paste, collapse = "")))
  out[[length(out) + 1]] <- list(id = "hadamard", call = "survey:::hadamard(n)",
                                 matrices = had)
  out
}

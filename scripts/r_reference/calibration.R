# Calibration on R's api data: post-stratification, raking, linear (GREG) calibration with and
# without bounds (calfun linear, raking, logit), weight trimming -- each followed by means,
# totals, ratios and proportions overall and by domain (svyby semantics: a calibrated design
# keeps every row when subset, rows outside the domain get prob = Inf), on Taylor designs and on
# the jackknife replicate design as.svrepdesign(dclus1).
#
# A case carries `steps`: the calibration steps in the order applied, each a list(method, ...)
# the Python test replays with analysis.calibration. `kind = "weights"` cases hold the
# calibrated weights of every row (and, for replicate designs, every replicate column).

core <- new.env(parent = globalenv())
sys.source("scripts/r_reference/core.R", envir = core)

pop_types <- data.frame(stype = c("E", "H", "M"), Freq = c(4421, 755, 1018))
pop_schwide <- data.frame(sch.wide = c("No", "Yes"), Freq = c(1072, 5122))
pop_awards <- as.data.frame(table(awards = apipop$awards), stringsAsFactors = FALSE)
pop_schwide_pop <- as.data.frame(table(sch.wide = apipop$sch.wide), stringsAsFactors = FALSE)
pop_type_wide <- as.data.frame(table(stype = apipop$stype, sch.wide = apipop$sch.wide),
                               stringsAsFactors = FALSE)
pop_totals <- c(`(Intercept)` = 6194, stypeH = 755, stypeM = 1018)
pop_totals_api99 <- c(pop_totals, api99 = 3914069)

margin <- function(df) {
  df <- as.data.frame(df, stringsAsFactors = FALSE)
  list(columns = as.list(setdiff(names(df), "Freq")), table = df)
}
poststratify_step <- function(df, partial = FALSE)
  list(method = "poststratify", margin = margin(df), partial = partial)
rake_step <- function(dfs, epsilon = 1, maxit = 10)
  list(method = "rake", margins = lapply(dfs, margin), epsilon = epsilon, maxit = maxit)
calibrate_step <- function(terms, population, calfun = "linear", bounds = NULL, trim = NULL,
                           maxit = 50, epsilon = 1e-7)
  list(method = "calibrate", terms = as.list(terms), population = as.list(population),
       calfun = calfun, bounds = bounds, trim = trim, maxit = maxit, epsilon = epsilon)
trim_step <- function(lower = NULL, upper = NULL, strict = FALSE)
  list(method = "trim", lower = lower, upper = upper, strict = strict)

spec_clus1 <- design_spec(psu = "dnum", weights = "pw", fpc = "fpc")
spec_strat <- design_spec(strata = "stype", weights = "pw", fpc = "fpc")
spec_clus2 <- design_spec(psu = c("dnum", "snum"), fpc = c("fpc1", "fpc2"))
dclus1 <- svydesign(id = ~dnum, weights = ~pw, data = apiclus1, fpc = ~fpc)
dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, data = apistrat, fpc = ~fpc)
dclus2 <- svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = apiclus2)
rclus1 <- as.svrepdesign(dclus1)

# Each setup: the base design, its calibration steps, and the calibrated design made by R.
setups <- function() {
  dclus1g <- calibrate(dclus1, ~stype + api99, pop_totals_api99)
  rclus1g <- calibrate(rclus1, ~stype + api99, pop_totals_api99)
  list(
    ps_clus1 = list(data = "apiclus1", spec = spec_clus1, base = dclus1,
      steps = list(poststratify_step(pop_types)),
      call = "postStratify(dclus1, ~stype, pop.types)",
      design = postStratify(dclus1, ~stype, pop_types)),
    ps2_clus1 = list(data = "apiclus1", spec = spec_clus1, base = dclus1,
      steps = list(poststratify_step(pop_type_wide)),
      call = "postStratify(dclus1, ~stype+sch.wide, table(apipop[c('stype','sch.wide')]))",
      design = postStratify(dclus1, ~stype + sch.wide, pop_type_wide)),
    ps_strat = list(data = "apistrat", spec = spec_strat, base = dstrat,
      steps = list(poststratify_step(pop_schwide_pop)),
      call = "postStratify(dstrat, ~sch.wide, table(apipop$sch.wide))",
      design = postStratify(dstrat, ~sch.wide, pop_schwide_pop)),
    ps_clus2 = list(data = "apiclus2", spec = spec_clus2, base = dclus2,
      steps = list(poststratify_step(pop_types)),
      call = "postStratify(dclus2, ~stype, pop.types)",
      design = postStratify(dclus2, ~stype, pop_types)),
    rake_clus1 = list(data = "apiclus1", spec = spec_clus1, base = dclus1,
      steps = list(rake_step(list(pop_types, pop_schwide))),
      call = "rake(dclus1, list(~stype, ~sch.wide), list(pop.types, pop.schwide))",
      design = rake(dclus1, list(~stype, ~sch.wide), list(pop_types, pop_schwide))),
    rake_tight_strat = list(data = "apistrat", spec = spec_strat, base = dstrat,
      steps = list(rake_step(list(pop_awards, pop_schwide_pop), epsilon = 1e-9, maxit = 50)),
      call = paste("rake(dstrat, list(~awards, ~sch.wide), list(pop.awards, pop.schwide),",
                   "control = list(epsilon = 1e-9, maxit = 50))"),
      design = rake(dstrat, list(~awards, ~sch.wide), list(pop_awards, pop_schwide_pop),
                    control = list(epsilon = 1e-9, maxit = 50))),
    greg_clus1 = list(data = "apiclus1", spec = spec_clus1, base = dclus1,
      steps = list(calibrate_step(c("stype", "api99"), pop_totals_api99)),
      call = "calibrate(dclus1, ~stype+api99, c(pop.totals, api99=3914069))",
      design = dclus1g),
    greg_bounded_clus1 = list(data = "apiclus1", spec = spec_clus1, base = dclus1,
      steps = list(calibrate_step(c("stype", "api99"), pop_totals_api99, bounds = c(0.6, 1.6))),
      call = "calibrate(dclus1, ~stype+api99, c(pop.totals, api99=3914069), bounds=c(0.6,1.6))",
      design = calibrate(dclus1, ~stype + api99, pop_totals_api99, bounds = c(0.6, 1.6))),
    greg_raking_clus1 = list(data = "apiclus1", spec = spec_clus1, base = dclus1,
      steps = list(calibrate_step(c("stype", "api99"), pop_totals_api99, calfun = "raking",
                                  bounds = c(0.6, 1.6))),
      call = paste("calibrate(dclus1, ~stype+api99, c(pop.totals, api99=3914069),",
                   "bounds=c(0.6,1.6), calfun='raking')"),
      design = calibrate(dclus1, ~stype + api99, pop_totals_api99, bounds = c(0.6, 1.6),
                         calfun = "raking")),
    greg_logit_clus1 = list(data = "apiclus1", spec = spec_clus1, base = dclus1,
      steps = list(calibrate_step(c("stype", "api99"), pop_totals_api99, calfun = "logit",
                                  bounds = c(0.6, 1.6))),
      call = paste("calibrate(dclus1, ~stype+api99, c(pop.totals, api99=3914069),",
                   "bounds=c(0.6,1.6), calfun='logit')"),
      design = calibrate(dclus1, ~stype + api99, pop_totals_api99, bounds = c(0.6, 1.6),
                         calfun = "logit")),
    greg_strat = list(data = "apistrat", spec = spec_strat, base = dstrat,
      steps = list(calibrate_step(c("sch.wide", "enroll"),
                                  c(`(Intercept)` = 6194, sch.wideYes = 4167,
                                    enroll = 3811472))),
      call = paste("calibrate(dstrat, ~sch.wide+enroll,",
                   "c(`(Intercept)`=6194, sch.wideYes=4167, enroll=3811472))"),
      design = calibrate(dstrat, ~sch.wide + enroll,
                         c(`(Intercept)` = 6194, sch.wideYes = 4167, enroll = 3811472))),
    trim_clus1 = list(data = "apiclus1", spec = spec_clus1, base = dclus1,
      steps = list(calibrate_step(c("stype", "api99"), pop_totals_api99),
                   trim_step(lower = 20, upper = 45)),
      call = "trimWeights(calibrate(dclus1, ~stype+api99, pop), lower=20, upper=45)",
      design = trimWeights(dclus1g, lower = 20, upper = 45)),
    trim_strict_clus1 = list(data = "apiclus1", spec = spec_clus1, base = dclus1,
      steps = list(calibrate_step(c("stype", "api99"), pop_totals_api99),
                   trim_step(lower = 20, upper = 45, strict = TRUE)),
      call = "trimWeights(calibrate(dclus1, ~stype+api99, pop), lower=20, upper=45, strict=TRUE)",
      design = trimWeights(dclus1g, lower = 20, upper = 45, strict = TRUE)),
    chain_clus1 = list(data = "apiclus1", spec = spec_clus1, base = dclus1,
      steps = list(poststratify_step(pop_schwide),
                   calibrate_step(c("stype", "api99"), pop_totals_api99)),
      call = paste("calibrate(postStratify(dclus1, ~sch.wide, pop.schwide), ~stype+api99,",
                   "c(pop.totals, api99=3914069))"),
      design = calibrate(postStratify(dclus1, ~sch.wide, pop_schwide), ~stype + api99,
                         pop_totals_api99)),
    # replicate designs: every replicate column calibrated as R does
    rep_ps_clus1 = list(data = "apiclus1", spec = spec_clus1, base = rclus1,
      steps = list(poststratify_step(pop_types)),
      call = "postStratify(as.svrepdesign(dclus1), ~stype, pop.types)",
      design = postStratify(rclus1, ~stype, pop_types)),
    rep_rake_clus1 = list(data = "apiclus1", spec = spec_clus1, base = rclus1,
      steps = list(rake_step(list(pop_types, pop_schwide))),
      call = "rake(as.svrepdesign(dclus1), list(~stype, ~sch.wide), list(pop.types, pop.schwide))",
      design = rake(rclus1, list(~stype, ~sch.wide), list(pop_types, pop_schwide))),
    rep_greg_clus1 = list(data = "apiclus1", spec = spec_clus1, base = rclus1,
      steps = list(calibrate_step(c("stype", "api99"), pop_totals_api99)),
      call = "calibrate(as.svrepdesign(dclus1), ~stype+api99, c(pop.totals, api99=3914069))",
      design = rclus1g),
    rep_greg_bounded_clus1 = list(data = "apiclus1", spec = spec_clus1, base = rclus1,
      # bounds every replicate can meet (with c(0.6, 1.6) grake gives up on 5 replicates and
      # R keeps their unconverged g silently)
      steps = list(calibrate_step(c("stype", "api99"), pop_totals_api99, bounds = c(0.5, 2.2))),
      call = paste("calibrate(as.svrepdesign(dclus1), ~stype+api99,",
                   "c(pop.totals, api99=3914069), bounds=c(0.5,2.2))"),
      design = calibrate(rclus1, ~stype + api99, pop_totals_api99, bounds = c(0.5, 2.2))),
    rep_greg_raking_clus1 = list(data = "apiclus1", spec = spec_clus1, base = rclus1,
      steps = list(calibrate_step(c("stype", "api99"), pop_totals_api99, calfun = "raking")),
      call = paste("calibrate(as.svrepdesign(dclus1), ~stype+api99,",
                   "c(pop.totals, api99=3914069), calfun='raking')"),
      design = calibrate(rclus1, ~stype + api99, pop_totals_api99, calfun = "raking"))
  )
}

replicate_info <- function(d) {
  if (!inherits(d, "svyrep.design")) return(NULL)
  list(type = d$type, scale = d$scale, rscales = num(d$rscales), mse = isTRUE(d$mse),
       df = degf(d), weights = unname(as.matrix(weights(d, "analysis"))))
}

# svyratio(deff=TRUE) fails on replicate designs in survey 4.1; R gives no deff there
ratio_rows_rep <- function(numv, denv) function(sub, domain) {
  r <- svyratio(reformulate(numv), reformulate(denv), sub, na.rm = TRUE)
  df <- degf(sub)
  ci <- confint(r, df = df)
  lapply(seq_along(numv), function(i) list(
    domain = domain, variable = paste0(numv[i], "/", denv), estimate = num(coef(r)[i]),
    se = num(SE(r)[i]), ci_low = num(ci[i, 1]), ci_high = num(ci[i, 2]), df = df))
}

# svyciprop(method = "logit") fits svyglm with glm's default tolerance (epsilon = 1e-8), which
# on some calibrated domains leaves its interval 1e-8 (relative) away from the converged fit.
# This is svyciprop's own code path (svyglm ~1, quasibinomial, Wald confint with ddf = degf)
# with the fit converged; it is checked against svyciprop to 1e-6 below.
prop_rows_logit <- function(var, value, level = 0.95) function(sub, domain) {
  y <- paste0("I(as.character(", var, ") == '", value, "')")
  m <- svyglm(as.formula(paste(y, "~ 1")), sub, family = quasibinomial,
              control = glm.control(epsilon = 1e-15, maxit = 100))
  ci <- as.numeric(plogis(confint(m, 1, level = level, method = "Wald", ddf = degf(sub))))
  p <- svyciprop(as.formula(paste0("~", y)), sub, method = "logit", level = level)
  stopifnot(isTRUE(all.equal(ci, as.numeric(attr(p, "ci")), tolerance = 1e-6)))
  mm <- svymean(as.formula(paste0("~as.numeric(", y, ")")), sub, deff = TRUE)
  list(list(domain = domain, variable = paste0(var, "=", value), estimate = num(coef(mm)),
            estimate_r = num(plogis(coef(m))), se = num(SE(mm)), ci_low = ci[1],
            ci_high = ci[2], df = degf(sub), n_rows = nrow(sub),
            deff = num(attr(mm, "deff"))))
}

# summary(weights(d)) (type-7 quartiles), Kish's 1 + CV^2 and the g-weights w / w_base
weight_diagnostics <- function(w, base) {
  w <- as.numeric(w); base <- as.numeric(base)
  q <- function(x) list(minimum = min(x), q1 = num(quantile(x, 0.25)),
                        median = num(median(x)), q3 = num(quantile(x, 0.75)),
                        maximum = max(x), mean = mean(x))
  p <- w[w > 0]
  list(weights = q(p), deff = length(p) * sum(p^2) / sum(p)^2, n_eff = sum(p)^2 / sum(p^2),
       g = q(w[base > 0] / base[base > 0]))
}

drop_null <- function(rows) lapply(rows, function(r) r[!vapply(r, is.null, logical(1))])

cases <- function() {
  out <- list()
  add <- function(x) out[[length(out) + 1]] <<- x
  all_setups <- setups()
  for (key in names(all_setups)) {
    s <- all_setups[[key]]
    des <- s$design
    rep <- inherits(des, "svyrep.design")
    add(list(id = paste0(key, "_weights"), kind = "weights", setup = key, data = s$data,
             design = s$spec,
             steps = s$steps, call = s$call, replicates = replicate_info(s$base),
             weights = num(weights(des, "sampling")),
             diagnostics = weight_diagnostics(weights(des, "sampling"),
                                              weights(s$base, "sampling")),
             replicate_weights = if (rep) unname(as.matrix(weights(des, "analysis"))) else NULL))
    # estimator cases name their setup; its "_weights" case holds the replicate weights
    extra <- list(setup = key, steps = s$steps, replicate = rep)
    ca <- function(suffix, call, statistic, variables, rows, by = NULL, ci_method = NULL,
                   more = list())
      add(case(paste0(key, "_", suffix), s$data, s$spec, paste0(call, " on ", s$call),
               statistic, variables, drop_null(rows), by = by, ci_method = ci_method,
               extra = c(extra, more)))
    ratio_rows <- if (rep) ratio_rows_rep else core$ratio_rows
    # replicate designs: svyciprop as is (its replicate glm refits are what analysis.replicates
    # reproduces, tolerance included); Taylor designs: the converged fit (see prop_rows_logit)
    prop_logit <- if (rep) function(v, x) core$prop_rows(v, x, "logit") else prop_rows_logit
    vars <- c("api00", "api99")
    ca("mean", "svymean(~api00+api99, d, deff=TRUE)", "mean", vars,
       core$whole(des, core$mean_rows(vars)))
    tvar <- if (s$data == "apiclus2") "api00" else "enroll"
    ca("total", paste0("svytotal(~", tvar, ", d, deff=TRUE)"), "total", tvar,
       core$whole(des, core$total_rows(tvar)))
    ca("ratio", "svyratio(~api00, ~api99, d, deff=TRUE)", "ratio", "api00",
       core$whole(des, ratio_rows("api00", "api99")), more = list(denominator = "api99"))
    ca("mean_by_stype", "svyby(~api00, ~stype, d, svymean, deff=TRUE)", "mean", "api00",
       by_rows(des, "stype", core$mean_rows("api00")), by = "stype")
    ca("total_by_awards", paste0("svyby(~", tvar, ", ~awards, d, svytotal, deff=TRUE)"),
       "total", tvar, by_rows(des, "awards", core$total_rows(tvar)), by = "awards")
    ca("ratio_by_schwide", "svyby(~api00, ~sch.wide, d, svyratio, denominator=~api99)",
       "ratio", "api00", by_rows(des, "sch.wide", ratio_rows("api00", "api99")),
       by = "sch.wide", more = list(denominator = "api99"))
    ca("prop_by_stype", "svyby(~I(awards=='Yes'), ~stype, d, svyciprop, method='logit')",
       "prop", "awards", by_rows(des, "stype", prop_logit("awards", "Yes")),
       by = "stype", ci_method = "logit", more = list(value = "Yes"))
    # by_rows must agree with svyby itself on the calibrated design
    chk <- svyby(~api00, ~stype, des, svymean)
    mine <- by_rows(des, "stype", core$mean_rows("api00"))
    stopifnot(isTRUE(all.equal(unname(coef(chk)), sapply(mine, `[[`, "estimate"))))
    stopifnot(isTRUE(all.equal(unname(SE(chk)), sapply(mine, `[[`, "se"))))
  }

  # partial = TRUE: a post-stratum in the population table with no sample is dropped
  pop_extra <- rbind(pop_types, data.frame(stype = "X", Freq = 100))
  d <- suppressWarnings(postStratify(dclus1, ~stype, pop_extra, partial = TRUE))
  add(list(id = "ps_partial_clus1_weights", kind = "weights", data = "apiclus1",
           design = spec_clus1, steps = list(poststratify_step(pop_extra, partial = TRUE)),
           call = "postStratify(dclus1, ~stype, rbind(pop.types, X=100), partial=TRUE)",
           weights = num(weights(d)),
           warning = tryCatch({postStratify(dclus1, ~stype, pop_extra, partial = TRUE); ""},
                              warning = function(w) conditionMessage(w))))
  # errors R gives (the Python messages are clearer and name the margin)
  err <- function(expr) tryCatch({force(expr); "no error"}, error = function(e)
    conditionMessage(e), warning = function(w) conditionMessage(w))
  add(list(id = "ps_missing_stratum", kind = "error", data = "apiclus1", design = spec_clus1,
           steps = list(poststratify_step(pop_types[1:2, ])),
           error = err(capture.output(postStratify(dclus1, ~stype, pop_types[1:2, ])))))
  add(list(id = "ps_empty_stratum", kind = "error", data = "apiclus1", design = spec_clus1,
           steps = list(poststratify_step(pop_extra)),
           error = err(capture.output(postStratify(dclus1, ~stype, pop_extra)))))
  add(list(id = "rake_not_converged", kind = "error", data = "apistrat", design = spec_strat,
           steps = list(rake_step(list(pop_awards, pop_schwide_pop), epsilon = 1e-12,
                                  maxit = 2)),
           error = err(rake(dstrat, list(~awards, ~sch.wide), list(pop_awards, pop_schwide_pop),
                            control = list(epsilon = 1e-12, maxit = 2)))))
  add(list(id = "greg_bounds_infeasible", kind = "error", data = "apiclus1",
           design = spec_clus1,
           steps = list(calibrate_step(c("stype", "api99"), pop_totals_api99,
                                       bounds = c(0.99, 1.01))),
           error = err(calibrate(dclus1, ~stype + api99, pop_totals_api99,
                                 bounds = c(0.99, 1.01)))))
  out
}

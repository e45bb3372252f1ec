# Core estimators on R's api data: totals, means, ratios, proportions (every svyciprop method),
# with and without fpc, one- and two-stage, by domain, and every lonely-PSU rule.

# Rows with a missing value leave the domain (as svymean(na.rm=TRUE) does), and so does their
# PSU from the degrees of freedom when it has no other rows: df = degf of that subset.
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
ratio_rows <- function(numv, denv) function(sub, domain) {
  r <- svyratio(reformulate(numv), reformulate(denv), sub, deff = TRUE, na.rm = TRUE)
  df <- degf(sub)
  ci <- confint(r, df = df)
  lapply(seq_along(numv), function(i) list(
    domain = domain, variable = paste0(numv[i], "/", denv), estimate = num(coef(r)[i]),
    se = num(SE(r)[i]), ci_low = num(ci[i, 1]), ci_high = num(ci[i, 2]), df = df,
    deff = num(attr(r, "deff")[i])))
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

designs <- function() {
  list(
    strat = list(
      data = "apistrat",
      spec = design_spec(strata = "stype", weights = "pw", fpc = "fpc"),
      design = svydesign(id = ~1, strata = ~stype, weights = ~pw, data = apistrat, fpc = ~fpc)),
    strat_nofpc = list(
      data = "apistrat",
      spec = design_spec(strata = "stype", weights = "pw"),
      design = svydesign(id = ~1, strata = ~stype, weights = ~pw, data = apistrat)),
    clus1 = list(
      data = "apiclus1",
      spec = design_spec(psu = "dnum", weights = "pw", fpc = "fpc"),
      design = svydesign(id = ~dnum, weights = ~pw, data = apiclus1, fpc = ~fpc)),
    clus1_nofpc = list(
      data = "apiclus1",
      spec = design_spec(psu = "dnum", weights = "pw"),
      design = svydesign(id = ~dnum, weights = ~pw, data = apiclus1)),
    clus2 = list(
      data = "apiclus2",
      spec = design_spec(psu = c("dnum", "snum"), fpc = c("fpc1", "fpc2")),
      design = svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = apiclus2)),
    clus2_nofpc = list(
      data = "apiclus2",
      spec = design_spec(psu = c("dnum", "snum"), weights = "pw"),
      design = svydesign(id = ~dnum + snum, weights = ~pw, data = apiclus2)),
    srs = list(
      data = "apisrs",
      spec = design_spec(weights = "pw", fpc = "fpc"),
      design = svydesign(id = ~1, weights = ~pw, data = apisrs, fpc = ~fpc))
  )
}

# A stratified cluster design on apiclus1 with one stratum holding a single PSU.
lonely_data <- function() {
  d <- apiclus1
  psus <- sort(unique(d$dnum))
  grp <- c(rep("A", 5), rep("B", 5), rep("C", 4), "D")   # stratum D: one PSU
  d$stratum <- grp[match(d$dnum, psus)]
  d
}

cases <- function() {
  out <- list()
  add <- function(x) out[[length(out) + 1]] <<- x
  for (key in names(designs())) {
    ds <- designs()[[key]]
    des <- ds$design
    vars <- if (ds$data == "apiclus2") c("api00", "enroll") else c("api00", "api99")
    add(case(paste0(key, "_mean"), ds$data, ds$spec, "svymean(~api00+api99, d, deff=TRUE)",
             "mean", vars, whole(des, mean_rows(vars))))
    add(case(paste0(key, "_total"), ds$data, ds$spec, "svytotal(~enroll, d, deff=TRUE)",
             "total", "enroll", whole(des, total_rows("enroll"))))
    add(case(paste0(key, "_ratio"), ds$data, ds$spec, "svyratio(~api00, ~api99, d, deff=TRUE)",
             "ratio", "api00", whole(des, ratio_rows("api00", "api99")),
             extra = list(denominator = "api99")))
    add(case(paste0(key, "_mean_by_stype"), ds$data, ds$spec,
             "svyby(~api00, ~stype, d, svymean, deff=TRUE)", "mean", "api00",
             by_rows(des, "stype", mean_rows("api00")), by = "stype"))
    add(case(paste0(key, "_total_by_stype_awards"), ds$data, ds$spec,
             "svyby(~enroll, ~stype+awards, d, svytotal, deff=TRUE)", "total", "enroll",
             by_rows(des, c("stype", "awards"), total_rows("enroll")), by = c("stype", "awards")))
    add(case(paste0(key, "_ratio_by_stype"), ds$data, ds$spec,
             "svyby(~api00, ~stype, d, svyratio, denominator=~api99)", "ratio", "api00",
             by_rows(des, "stype", ratio_rows("api00", "api99")), by = "stype",
             extra = list(denominator = "api99")))
    for (method in c("logit", "beta", "mean", "xlogit", "asin", "likelihood")) {
      add(case(paste0(key, "_prop_", method), ds$data, ds$spec,
               paste0("svyciprop(~I(sch.wide=='Yes'), d, method='", method, "')"), "prop",
               "sch.wide", whole(des, prop_rows("sch.wide", "Yes", method)),
               ci_method = method, extra = list(value = "Yes")))
      add(case(paste0(key, "_prop_by_stype_", method), ds$data, ds$spec,
               paste0("svyby(~I(awards=='Yes'), ~stype, d, svyciprop, method='", method, "')"),
               "prop", "awards", by_rows(des, "stype", prop_rows("awards", "Yes", method)),
               by = "stype", ci_method = method, extra = list(value = "Yes")))
    }
  }
  # a 90% level and the svyby agreement check (by_rows must equal svyby itself)
  ds <- designs()$clus1
  add(case("clus1_prop_logit_90", ds$data, ds$spec, "svyciprop(~I(sch.wide=='Yes'), d, level=0.9)",
           "prop", "sch.wide", whole(ds$design, prop_rows("sch.wide", "Yes", "logit", 0.9)),
           level = 0.9, ci_method = "logit", extra = list(value = "Yes")))
  chk <- svyby(~api00, ~stype, ds$design, svymean)
  mine <- by_rows(ds$design, "stype", mean_rows("api00"))
  stopifnot(isTRUE(all.equal(unname(coef(chk)), sapply(mine, `[[`, "estimate"))))
  stopifnot(isTRUE(all.equal(unname(SE(chk)), sapply(mine, `[[`, "se"))))

  # lonely PSU: every rule, overall and by domain
  ld <- lonely_data()
  write.csv(ld, "tests/fixtures/data/lonely.csv", row.names = FALSE, na = "")
  for (rule in c("remove", "adjust", "average", "certainty")) {
    options(survey.lonely.psu = rule)
    spec <- design_spec(psu = "dnum", strata = "stratum", weights = "pw", lonely_psu = rule)
    des <- svydesign(id = ~dnum, strata = ~stratum, weights = ~pw, data = ld)
    add(case(paste0("lonely_", rule, "_mean"), "lonely", spec, "svymean(~api00+api99, d)",
             "mean", c("api00", "api99"), whole(des, mean_rows(c("api00", "api99")))))
    add(case(paste0("lonely_", rule, "_total"), "lonely", spec, "svytotal(~enroll, d)",
             "total", "enroll", whole(des, total_rows("enroll"))))
    add(case(paste0("lonely_", rule, "_mean_by_stype"), "lonely", spec,
             "svyby(~api00, ~stype, d, svymean)", "mean", "api00",
             by_rows(des, "stype", mean_rows("api00")), by = "stype"))
    add(case(paste0("lonely_", rule, "_prop_by_stype"), "lonely", spec,
             "svyby(~I(awards=='Yes'), ~stype, d, svyciprop)", "prop", "awards",
             by_rows(des, "stype", prop_rows("awards", "Yes", "logit")), by = "stype",
             ci_method = "logit", extra = list(value = "Yes")))
  }
  options(survey.lonely.psu = "fail")
  # with 'fail' R refuses; the test expects our LonelyPSUError naming stratum D
  des <- svydesign(id = ~dnum, strata = ~stratum, weights = ~pw, data = ld)
  err <- tryCatch({svymean(~api00, des); "no error"}, error = function(e) conditionMessage(e))
  add(list(id = "lonely_fail", data = "lonely",
           design = design_spec(psu = "dnum", strata = "stratum", weights = "pw"),
           call = "svymean(~api00, d)", statistic = "mean", variables = list("api00"),
           error = err))
  out
}

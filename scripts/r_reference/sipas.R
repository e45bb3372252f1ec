# SIPAS composites on a synthetic data set: criterion, content and overall indices per domain.
#
# The data (tests/fixtures/data/sipas.csv) is generated here with set.seed: 6 provinces
# (strata), 36 centres (PSUs), communes (domains) holding 1-4 centres -- commune X01 has a
# single centre (its ratio variances are exactly zero), commune X02 answers only 4-5 (every
# index is 1), commune X03 never answers C5.3 (a "no answers" criterion; C5 and SIPAS average
# the criteria that have answers) -- 19 items with "na" (not applicable) and empty answers,
# and design weights from a frame: dossiers settled per centre x field / responses in the cell.
#
# Per domain, R computes
#   * criteria with svyratio(~s_i, ~a_i, na.rm=TRUE, deff=TRUE) on the answered rows;
#   * every index from svytotal of the numerators S_i and denominators A_i (0/1 coded) and
#     svycontrast of the composite expression (content = mean of its criteria' S_i/A_i,
#     SIPAS = mean of the contents): estimate and SE;
#   * deff of an index = deff(svytotal(~u, deff=TRUE)) over the domain rows that answered at
#     least one of its items, u = sum_i c_i (s_i - p_i a_i) / A_i its linearized variable
#     (for a criterion this must equal svyratio's deff: checked here and in the tests);
#   * the logit interval expit(logit(p) +/- t_df se / (p (1 - p))), df = degf(domain subset)
#     (our definition for composites; for a criterion it is svyciprop's logit interval).

items <- c(paste0("C1.", 1:4), paste0("C2.", 1:4), paste0("C3.", 1:5), paste0("C4.", 1:3),
           paste0("C5.", 1:3))
content_of <- sub("\\..*$", "", items)
contents <- unique(content_of)

sipas_data <- function() {
  set.seed(20250701)
  provinces <- sprintf("P%d", 1:6)
  # communes per province and centres per commune (1-4); X01 has one centre
  communes <- data.frame(
    commune = c("X01", "X02", "X03", sprintf("K%02d", 4:15)),
    province = c("P1", "P2", "P3", rep(provinces, length.out = 12)),
    centres = c(1, 2, 3, sample(1:4, 12, replace = TRUE)),
    stringsAsFactors = FALSE)
  communes$centres[communes$commune == "K04"] <- 2  # P4 needs two centres
  centres <- do.call(rbind, lapply(seq_len(nrow(communes)), function(i) data.frame(
    commune = communes$commune[i], province = communes$province[i],
    centre = sprintf("%s-%d", communes$commune[i], seq_len(communes$centres[i])),
    stringsAsFactors = FALSE)))
  fields <- c("land", "justice", "business")
  rows <- list()
  for (k in seq_len(nrow(centres))) {
    for (f in fields) {
      m <- sample(4:14, 1)
      rows[[length(rows) + 1]] <- data.frame(
        province = centres$province[k], commune = centres$commune[k],
        centre = centres$centre[k], field = f, dossiers = sample(20:300, 1),
        stringsAsFactors = FALSE)[rep(1, m), ]
    }
  }
  d <- do.call(rbind, rows)
  rownames(d) <- NULL
  d$responses <- ave(rep(1, nrow(d)), d$centre, d$field, FUN = sum)
  d$weight <- d$dossiers / d$responses
  centre_effect <- rnorm(nrow(centres), 0, 0.6)
  names(centre_effect) <- centres$centre
  for (it in items) {
    lat <- 1 + centre_effect[d$centre] + rnorm(1, 0, 0.3) + rnorm(nrow(d), 0, 1)
    sat <- runif(nrow(d)) < plogis(lat)
    v <- ifelse(sat, sample(4:5, nrow(d), TRUE), sample(1:3, nrow(d), TRUE))
    v[d$commune == "X02"] <- sample(4:5, sum(d$commune == "X02"), TRUE)
    v <- as.character(v)
    u <- runif(nrow(d))
    v[u < (if (startsWith(it, "C5")) 0.15 else 0.05)] <- "na"
    v[u > 0.97] <- NA  # empty: no answer
    if (it == "C5.3") v[d$commune == "X03"] <- "na"
    d[[it]] <- v
  }
  d
}

sat_num <- function(v) ifelse(is.na(v) | v == "na", 0, as.numeric(suppressWarnings(as.numeric(v)) >= 4))
ans_num <- function(v) ifelse(is.na(v) | v == "na", 0, 1)

composite_coefs <- function(avail) {
  # avail: logical per item (criterion has answers in the domain); returns K x I coefficients
  crit <- diag(length(items))
  m_avail <- tapply(avail, content_of, sum)[contents]
  cc <- ifelse(avail, 1 / m_avail[content_of], 0)
  cont <- t(sapply(contents, function(cn) ifelse(content_of == cn, cc, 0)))
  n_def <- sum(m_avail > 0)
  sip <- colSums(cont) / n_def
  rbind(crit, cont, sip)
}

index_rows <- function(des, idx, domain, level) {
  sub <- des[idx, ]
  v <- sub$variables
  tot <- svytotal(as.formula(paste("~", paste(c(paste0("S_", seq_along(items)),
                                                  paste0("A_", seq_along(items))),
                                                collapse = "+"))), sub)
  S <- coef(tot)[paste0("S_", seq_along(items))]
  A <- coef(tot)[paste0("A_", seq_along(items))]
  avail <- A > 0
  coefs <- composite_coefs(avail)
  names_k <- c(items, contents, "SIPAS")
  stat_k <- c(rep("criterion", length(items)), rep("content", length(contents)), "sipas")
  df <- degf(sub)
  # expressions for svycontrast: sum_i c_i * S_i / A_i
  exprs <- lapply(seq_len(nrow(coefs)), function(k) {
    terms <- which(coefs[k, ] != 0)
    if (!length(terms)) return(NULL)
    parse(text = paste(sprintf("%.17g * S_%d / A_%d", coefs[k, terms], terms, terms),
                       collapse = " + "))[[1]]
  })
  ok <- !sapply(exprs, is.null)
  con <- svycontrast(tot, setNames(exprs[ok], names_k[ok]))
  est <- rep(NA_real_, length(names_k)); se <- est
  est[ok] <- coef(con); se[ok] <- SE(con)
  p <- ifelse(A > 0, S / A, 0)
  s_mat <- sapply(seq_along(items), function(i) v[[paste0("S_", i)]])
  a_mat <- sapply(seq_along(items), function(i) v[[paste0("A_", i)]])
  item_items <- lapply(seq_along(names_k), function(k) which(coefs[k, ] != 0))
  lapply(seq_along(names_k), function(k) {
    row <- list(level = level, domain = domain, statistic = stat_k[k], variable = names_k[k],
                df = df)
    its <- item_items[[k]]
    answered_any <- if (length(its)) rowSums(a_mat[, its, drop = FALSE]) > 0 else
      rep(FALSE, nrow(v))
    row$n <- sum(answered_any & weights(sub) != 0)
    if (!ok[k]) return(c(row, list(estimate = NULL, se = NULL, ci_low = NULL, ci_high = NULL,
                                  deff = NULL)))
    # linearized variable of the composite and the deff of its total
    cf <- ifelse(A > 0, coefs[k, ] / A, 0)
    u <- as.vector((s_mat - sweep(a_mat, 2, p, "*")) %*% cf)
    des_u <- update(sub, u_k = u)
    tu <- svytotal(~u_k, des_u[answered_any, ], deff = TRUE)
    # svycontrast's quadratic form cancels badly when the variance is (nearly) zero
    if (!(is.na(se[k]) || se[k] < 1e-6 ||
          isTRUE(all.equal(as.numeric(SE(tu)), as.numeric(se[k]), tolerance = 1e-7)))) stop(sprintf("u check %s %s k=%d: %.17g vs %.17g", level,
                                        paste(domain, collapse = ""), k, SE(tu), se[k]))
    q <- qt(0.975, df)
    pk <- est[k]
    se_u <- as.numeric(SE(tu))
    lo <- plogis(qlogis(pk) - q * se_u / (pk * (1 - pk)))
    hi <- plogis(qlogis(pk) + q * se_u / (pk * (1 - pk)))
    row <- c(row, list(estimate = unname(pk), se = as.numeric(SE(tu)),
                       se_svycontrast = if (is.na(se[k])) NULL else unname(se[k]),
                       ci_low = if (is.finite(lo)) lo else NULL,
                       ci_high = if (is.finite(hi)) hi else NULL,
                       deff = if (is.finite(attr(tu, "deff"))) as.numeric(attr(tu, "deff")) else NULL))
    if (stat_k[k] == "criterion") {
      rr <- svyratio(as.formula(paste0("~Sna_", k)), as.formula(paste0("~Ana_", k)), sub,
                     na.rm = TRUE, deff = TRUE)
      row$estimate_svyratio <- unname(coef(rr)[1])
      row$se_svyratio <- unname(SE(rr)[1])
      d_r <- unname(attr(rr, "deff")[1])
      row$deff_svyratio <- if (is.finite(d_r)) d_r else NULL
      if (is.finite(d_r) && !is.null(row$deff))
        stopifnot(isTRUE(all.equal(as.numeric(d_r), as.numeric(row$deff), tolerance = 1e-10)))
    }
    row
  })
}

level_rows <- function(des, by) {
  if (is.null(by)) return(index_rows(des, rep(TRUE, nrow(des$variables)), list(), "overall"))
  vals <- sort(unique(des$variables[[by]]))
  do.call(c, lapply(vals, function(val) {
    index_rows(des, des$variables[[by]] == val, setNames(list(val), by), by)
  }))
}

# unit vs rest of its province: svytotal of the unit's and the rest's numerators and
# denominators (zero outside) on the FULL design, svycontrast of the difference of the two
# composites; p-values on the province's df; Holm across the province's communes
# (p.adjust(method = "holm")).
contrast_rows <- function(des) {
  v <- des$variables
  out <- list()
  for (prov in sort(unique(v$province))) {
    in_p <- v$province == prov
    units <- sort(unique(v$commune[in_p]))
    df <- degf(des[in_p, ])
    prov_rows <- list()
    for (u in units) {
      in_u <- in_p & v$commune == u
      in_r <- in_p & v$commune != u
      vars <- list()
      for (i in seq_along(items)) {
        vars[[paste0("SU_", i)]] <- v[[paste0("S_", i)]] * in_u
        vars[[paste0("AU_", i)]] <- v[[paste0("A_", i)]] * in_u
        vars[[paste0("SR_", i)]] <- v[[paste0("S_", i)]] * in_r
        vars[[paste0("AR_", i)]] <- v[[paste0("A_", i)]] * in_r
      }
      d2 <- do.call(update, c(list(des), vars))
      tot <- svytotal(as.formula(paste("~", paste(names(vars), collapse = "+"))), d2)
      cu <- composite_coefs(coef(tot)[paste0("AU_", seq_along(items))] > 0)
      cr <- composite_coefs(coef(tot)[paste0("AR_", seq_along(items))] > 0)
      names_k <- c(items, contents, "SIPAS")
      exprs <- lapply(seq_len(nrow(cu)), function(k) {
        term <- function(cf, side) {
          it <- which(cf != 0)
          if (!length(it)) return(NULL)
          paste(sprintf("%.17g * S%s_%d / A%s_%d", cf[it], side, it, side, it),
                collapse = " + ")
        }
        a <- term(cu[k, ], "U"); b <- term(cr[k, ], "R")
        if (is.null(a) || is.null(b)) return(NULL)
        parse(text = paste0("(", a, ") - (", b, ")"))[[1]]
      })
      ok <- !sapply(exprs, is.null)
      con <- svycontrast(tot, setNames(exprs[ok], names_k[ok]))
      est <- rep(NA_real_, length(names_k)); se <- est
      est[ok] <- coef(con); se[ok] <- SE(con)
      p <- 2 * pt(-abs(est / se), df)
      prov_rows[[u]] <- list(est = est, se = se, p = p)
    }
    names_k <- c(items, contents, "SIPAS")
    for (k in seq_along(names_k)) {
      pk <- sapply(units, function(u) prov_rows[[u]]$p[k])
      adj <- p.adjust(pk, method = "holm")
      for (j in seq_along(units)) {
        r <- prov_rows[[units[j]]]
        if (is.na(r$est[k])) next
        out[[length(out) + 1]] <- list(
          domain = list(province = prov, commune = units[j]), variable = names_k[k],
          difference = r$est[k], se = r$se[k], df = df,
          p_value = if (is.finite(pk[j])) pk[j] else NULL,
          p_holm = if (is.finite(adj[j])) adj[j] else NULL)
      }
    }
  }
  out
}

cases <- function() {
  d <- sipas_data()
  write.csv(d[, c("province", "commune", "centre", "field", "dossiers", "responses", "weight",
                  items)], "tests/fixtures/data/sipas.csv", row.names = FALSE, na = "")
  d$fpc_centres <- 12  # a population of 12 centres per province, for the fpc case
  for (i in seq_along(items)) {
    d[[paste0("S_", i)]] <- sat_num(d[[items[i]]])
    d[[paste0("A_", i)]] <- ans_num(d[[items[i]]])
    d[[paste0("Sna_", i)]] <- ifelse(d[[paste0("A_", i)]] == 1, d[[paste0("S_", i)]], NA)
    d[[paste0("Ana_", i)]] <- ifelse(d[[paste0("A_", i)]] == 1, 1, NA)
  }
  designs <- list(
    taylor = list(spec = design_spec(psu = "centre", strata = "province", weights = "weight"),
                  design = svydesign(ids = ~centre, strata = ~province, weights = ~weight,
                                     data = d)),
    fpc = list(spec = design_spec(psu = "centre", strata = "province", weights = "weight",
                                  fpc = "fpc_centres"),
               design = svydesign(ids = ~centre, strata = ~province, weights = ~weight,
                                  fpc = ~fpc_centres, data = d)))
  out <- list()
  for (key in names(designs)) {
    ds <- designs[[key]]
    rows <- c(level_rows(ds$design, NULL), level_rows(ds$design, "province"),
              level_rows(ds$design, "commune"))
    out[[length(out) + 1]] <- list(
      id = paste0("sipas_", key), data = "sipas", design = ds$spec,
      extra_columns = list(fpc_centres = 12),
      call = paste("svytotal(~S_1+...+S_19+A_1+...+A_19, subset) + svycontrast(composites);",
                   "svyratio(~s_i, ~a_i, na.rm=TRUE, deff=TRUE); svytotal(~u, deff=TRUE)"),
      by = list(NULL, "province", "commune"), level = 0.95, ci_method = "logit",
      rows = rows)
  }
  out[[length(out) + 1]] <- list(
    id = "unit_vs_rest_taylor", kind = "unit_vs_rest", data = "sipas",
    design = designs$taylor$spec, unit = "commune", parent = "province",
    call = paste("svytotal(~SU_i+AU_i+SR_i+AR_i, full design) + svycontrast(unit - rest);",
                 "2*pt(-|t|, degf(province)); p.adjust(holm) per province and index"),
    rows = contrast_rows(designs$taylor$design))
  p <- c(0.01, 0.04, 0.03, 0.005, 0.2, NA, 0.04)
  out[[length(out) + 1]] <- list(id = "holm", kind = "holm", call = "p.adjust(p, 'holm')",
                                 p = p, adjusted = p.adjust(p, method = "holm"))
  out
}

#!/usr/bin/env Rscript
# Regenerate the reference values the statistics tests compare against (tests/fixtures/r_*.json).
#
#   scripts/install-system-deps --with-r      # Debian r-cran-survey, r-cran-jsonlite
#   Rscript scripts/make_r_reference.R        # run from the repository root
#
# Each scripts/r_reference/<name>.R defines a function `cases()` returning a list of cases; this
# driver writes tests/fixtures/r_<name>.json with the R and survey versions (provenance) and
# exports R's api data sets to tests/fixtures/data/*.csv so the suite runs without R.
suppressPackageStartupMessages({
  library(survey)
  library(jsonlite)
})
options(survey.lonely.psu = "fail", survey.adjust.domain.lonely = FALSE)
source("scripts/r_reference/common.R")

data(api)
dir.create("tests/fixtures/data", showWarnings = FALSE, recursive = TRUE)
for (name in c("apistrat", "apiclus1", "apiclus2", "apisrs")) {
  write.csv(get(name), file.path("tests/fixtures/data", paste0(name, ".csv")),
            row.names = FALSE, na = "")
}

only <- commandArgs(trailingOnly = TRUE)
for (path in sort(Sys.glob("scripts/r_reference/*.R"))) {
  name <- sub("\\.R$", "", basename(path))
  if (name == "common") next
  if (length(only) && !(name %in% only)) next
  env <- new.env(parent = globalenv())
  sys.source(path, envir = env)
  cases <- env$cases()
  out <- list(
    generated_by = "scripts/make_r_reference.R",
    source = paste0("scripts/r_reference/", name, ".R"),
    r_version = R.version.string,
    survey_version = as.character(packageVersion("survey")),
    cases = cases
  )
  file <- file.path("tests/fixtures", paste0("r_", name, ".json"))
  writeLines(toJSON(out, auto_unbox = TRUE, digits = I(17), null = "null", na = "null",
                    pretty = TRUE), file)
  message("wrote ", file, " (", length(cases), " cases)")
}

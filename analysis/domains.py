"""Domains (``by`` groups): integer codes per row, computed on the full design.

A domain is never estimated by dropping the other rows from the design: rows outside it keep
their place (as zero influence values), so strata and PSU counts stay those of the full design
(Lumley 2010 §2.3.1; R ``svyby`` via ``"[.survey.design2"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.errors import EstimationError


@dataclass(frozen=True, eq=False)
class Domains:
    """``codes[i]`` is row i's domain (0..count-1, or -1 when a ``by`` value is missing)."""

    codes: np.ndarray
    labels: pd.DataFrame

    @property
    def count(self) -> int:
        return len(self.labels)

    @classmethod
    def whole(cls, n: int) -> Domains:
        return cls(np.zeros(n, dtype=np.int64), pd.DataFrame(index=range(1)))

    @classmethod
    def from_columns(cls, data: pd.DataFrame, by: str | Sequence[str] | None) -> Domains:
        columns = _as_list(by)
        if not columns:
            return cls.whole(len(data))
        missing = [c for c in columns if c not in data.columns]
        if missing:
            raise EstimationError(f"by column(s) not in the data: {', '.join(missing)}")
        frame = data[columns].reset_index(drop=True)
        codes = frame.groupby(columns, sort=True, dropna=True).ngroup().to_numpy()
        codes = np.where(frame.isna().any(axis=1).to_numpy(), -1, codes).astype(np.int64)
        labels = (frame[codes >= 0].assign(_c=codes[codes >= 0]).drop_duplicates("_c")
                  .sort_values("_c").drop(columns="_c").reset_index(drop=True))
        return cls(codes, labels)

    def restrict(self, keep: np.ndarray) -> Domains:
        """Drop rows (``keep`` False) from every domain, e.g. rows with a missing value."""
        return Domains(np.where(keep, self.codes, -1), self.labels)

    def select(self, present: np.ndarray) -> Domains:
        """Renumber to the domains flagged in ``present`` (those with rows left)."""
        new = np.full(len(present), -1, dtype=np.int64)
        new[present] = np.arange(int(present.sum()))
        codes = np.where(self.codes >= 0, new[np.maximum(self.codes, 0)], -1)
        return Domains(codes, self.labels[present].reset_index(drop=True))


def _as_list(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)

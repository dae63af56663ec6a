"""Micro moments in JSON: a declarative form of PyBLP's MicroDataset / MicroPart / MicroMoment, since HTTP cannot
carry Python callables. `blp.micro.from_spec.build_micro_moments` compiles it against a problem's data into the core's
objects; expressions are checked like formulas (column names, numbers, arithmetic, log/exp/sqrt/abs): no user text
is ever evaluated as code.

A dataset is a survey in some markets with a number of observations. Its weights select who was sampled:
`first_choices` 'inside' (purchasers, j > 0) or 'all' (the outside good too), optionally weighted by a product
expression `products` of the first choice j (e.g. 'mushy' for mushy purchasers; the outside good, when sampled,
weighs 1); `second_choices` null (a first-choice survey), 'inside' (second choices among products) or 'all' (the
outside good can be the second choice).

A part is the survey mean of v_ij(k) = a_i x_j y_k, each factor optional (1 when left out): `agents`, an expression
of agent-data columns (e.g. 'log_income'); `first`, an expression of the first choice j's product columns with the
value it takes when j is the outside good (`outside`, default 0); `second`, the same for the second choice k.
'mushy' with outside 0 is mushy_k; expression '0' with outside 1 is the indicator of the outside good.

A moment matches its `value` to one part's mean (`part`) or to a conditional mean, the ratio of two parts' means
(`ratio`: [numerator, denominator], e.g. E[log income x mushy_j] / E[mushy_j] = E[log income | mushy_j]).
"""

from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

Name = Annotated[str, Field(min_length=1, max_length=200)]
Expression = Annotated[str, Field(min_length=1, max_length=500)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra='forbid', frozen=True)


class MicroDatasetSpec(_Strict):
    """A survey (PyBLP's MicroDataset): its markets, observations and whom it sampled."""

    name: Name
    observations: int = Field(ge=1, le=10**9, description='survey observations N_d')
    market_ids: Optional[list[Union[str, int]]] = Field(default=None, min_length=1, max_length=100_000,
                                                        description='markets surveyed (null: every market)')
    first_choices: Literal['inside', 'all'] = Field(
        default='inside', description="'inside': purchasers only (j > 0); 'all': the outside good too")
    products: Optional[Expression] = Field(
        default=None, description='product expression weighting first choices j (e.g. "mushy": mushy purchasers)')
    second_choices: Optional[Literal['inside', 'all']] = Field(
        default=None, description="null: first choices only; 'inside' or 'all' (the outside good too): second choices")
    eliminated_product_ids_index: Optional[int] = Field(
        default=None, ge=0, le=99, strict=True,
        description='second choices made with the first choice\'s whole group removed: the product_ids column that '
                    'groups products (k: product_ids<k>; a product_ids column is index 0 alone, as in PyBLP); null: only the '
                    'first choice')

    @model_validator(mode='after')
    def _eliminated_needs_second_choices(self) -> 'MicroDatasetSpec':
        if self.eliminated_product_ids_index is not None and self.second_choices is None:
            raise ValueError(f'micro dataset {self.name!r}: eliminated_product_ids_index needs second_choices')
        return self


class MicroFactorSpec(_Strict):
    """A product expression of the first (or second) choice, and its value when that choice is the outside good."""

    expression: Expression = Field(examples=['mushy'])
    outside: Annotated[float, Field(allow_inf_nan=False)] = 0.0


class MicroPartSpec(_Strict):
    """A survey mean (PyBLP's MicroPart) of v_ij(k) = agents_i x first_j x second_k (missing factors are 1)."""

    name: Name
    dataset: Name
    agents: Optional[Expression] = Field(default=None, description='agent expression, e.g. "log_income"')
    first: Optional[MicroFactorSpec] = None
    second: Optional[MicroFactorSpec] = None


class MicroMomentSpec(_Strict):
    """A statistic matched (PyBLP's MicroMoment): one part's mean, or the ratio of two (a conditional mean)."""

    name: Name
    value: Annotated[float, Field(allow_inf_nan=False)]
    part: Optional[Name] = None
    ratio: Optional[tuple[Name, Name]] = Field(default=None, description='[numerator part, denominator part]')

    @model_validator(mode='after')
    def _one_form(self) -> 'MicroMomentSpec':
        if (self.part is None) == (self.ratio is None):
            raise ValueError(f'micro moment {self.name!r}: give exactly one of part or ratio')
        return self

    @property
    def part_names(self) -> list[str]:
        return [self.part] if self.part is not None else list(self.ratio or ())


class MicroMomentsSpec(_Strict):
    """Micro moments: datasets, parts on them, and the moments matched."""

    datasets: list[MicroDatasetSpec] = Field(min_length=1, max_length=50)
    parts: list[MicroPartSpec] = Field(min_length=1, max_length=200)
    moments: list[MicroMomentSpec] = Field(min_length=1, max_length=200)

    @model_validator(mode='after')
    def _references(self) -> 'MicroMomentsSpec':
        for kind, items in (('dataset', self.datasets), ('part', self.parts), ('moment', self.moments)):
            names = [item.name for item in items]
            repeated = sorted({name for name in names if names.count(name) > 1})
            if repeated:
                raise ValueError(f'two micro {kind}s are named {repeated[0]!r}')
        datasets = {dataset.name: dataset for dataset in self.datasets}
        parts = {part.name: part for part in self.parts}
        for moment in self.moments:
            for name in moment.part_names:
                if name not in parts:
                    raise ValueError(f'micro moment {moment.name!r} uses part {name!r}, which is not in parts')
                part = parts[name]
                if part.dataset not in datasets:
                    raise ValueError(f'micro moment {moment.name!r}: part {name!r} is on dataset {part.dataset!r}, '
                                     f'which is not in datasets')
                if part.second is not None and datasets[part.dataset].second_choices is None:
                    raise ValueError(f'micro moment {moment.name!r}: part {name!r} has a second-choice factor but '
                                     f'dataset {part.dataset!r} has no second_choices')
        used = {name for moment in self.moments for name in moment.part_names}
        unused = [part.name for part in self.parts if part.name not in used]
        if unused:
            raise ValueError(f'micro part {unused[0]!r} is not used by any moment')
        return self

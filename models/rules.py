"""Declarative rules beside the model: a YAML file of conditions and actions, validated and compiled.

A rules file (``SCAMGUARD_RULES_FILE``, default ``<data_dir>/rules.yaml``; absent: no rules)::

    lists:                      # named lists that conditions refer to with in_list
      blocked_instruments: [card-0001, card-0002]
    rules:
      - id: R1                  # unique; letters, digits, . _ -
        owner: trust-ops        # who answers for it
        note: task / crypto commission scam texts
        action: block           # block | review | allow
        enabled: true           # default true
        when:                   # every condition given must hold
          event_types: [message, job_post, proposal]
          text: '(?i)top up your task account'      # regex on the event's own text
          fields: {instrument_id: {in_list: blocked_instruments}, amount_usd: {gte: 500}}
          features: {account_age_days: {lt: 2}, messages_24h: {gte: 10}}

``fields`` are the event's own fields (``features.event_rows.EVENT_FIELDS``), ``features`` the
user's features (``features.build.FEATURE_COLUMNS``) just after the event (endpoint) or as of the
end of the day (batch). A condition holds ops ``eq``, ``ne``, ``in``, ``not_in``, ``in_list``,
``gt``, ``gte``, ``lt``, ``lte``, ``matches`` (a regex); a null value matches nothing. Regexes use
Polars' engine (Rust ``regex`` syntax: ``(?i)`` for case-insensitive; no look-around).

Every rule compiles to one Polars expression over a frame of ``EVENT_FIELDS`` and features, so the
endpoint (one row per event) and batch (one row per event of the day, plus one per scored user
without events for feature-only rules) evaluate the same thing. A bad file is a
:class:`RulesError` listing every problem on its own line, naming the rule and the field.

Precedence (:func:`apply_rules`, then ``models.overrides.apply_known_label``): known labels
first, then rules, then the model. Among the rules that fired the strictest action wins (block >
review > allow): ``block`` blocks; ``review`` sends to review at least (a model block stays
block); ``allow`` (an allow-list) allows even what the model would review or block. Every rule
that fired is a reason, ``rule R1 (owner): note``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, model_validator

from features.build import FEATURE_COLUMNS
from features.event_rows import EVENT_FIELDS, EVENT_TYPES

from .decisions import ALLOW, BLOCK, REVIEW
from .overrides import Overridden

ACTIONS = ("allow", "review", "block")  # in increasing strictness
_SEVERITY = {ALLOW: 0, REVIEW: 1, BLOCK: 2}
Scalar = str | float | bool


class RulesError(ValueError):
    """A rules file that cannot be used; ``problems`` holds one line per problem."""

    def __init__(self, source: str, problems: list[str]):
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


class Condition(BaseModel):
    """Tests on one value; every test given must hold."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    eq: Scalar | None = None
    ne: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in")
    not_in: list[Scalar] | None = None
    in_list: str | None = None
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None
    matches: str | None = None

    @model_validator(mode="after")
    def _something(self) -> Condition:
        if not self.model_fields_set:
            raise ValueError("a condition needs at least one test (eq, in, gte, matches, ...)")
        return self

    def check(self, name: str, dtype: pl.DataType, lists: dict[str, list]) -> None:
        numeric = dtype.is_numeric()
        if not numeric and any(v is not None for v in (self.gt, self.gte, self.lt, self.lte)):
            raise ValueError(f"{name} is not a number: gt / gte / lt / lte do not apply")
        if self.matches is not None:
            if dtype != pl.String():
                raise ValueError(f"{name} is not text: matches does not apply")
            check_regex(self.matches)
        if self.in_list is not None and self.in_list not in lists:
            raise ValueError(f"unknown list {self.in_list!r} (lists: {', '.join(lists) or 'none'})")
        values = [self.eq, self.ne, *(self.in_ or []), *(self.not_in or [])]
        if self.in_list is not None:
            values += lists[self.in_list]
        wrong = [v for v in values if v is not None and not _fits(v, dtype)]
        if wrong:
            kind = "numbers" if numeric else "true / false" if dtype == pl.Boolean() else "text"
            raise ValueError(f"{name} holds {kind}: {wrong[0]!r} cannot match it")

    def expr(self, column: pl.Expr, lists: dict[str, list]) -> pl.Expr:
        tests: list[pl.Expr] = []
        if self.eq is not None:
            tests.append(column == self.eq)
        if self.ne is not None:
            tests.append(column != self.ne)
        if self.in_ is not None:
            tests.append(column.is_in(self.in_))
        if self.not_in is not None:
            tests.append(~column.is_in(self.not_in))
        if self.in_list is not None:
            tests.append(column.is_in(lists[self.in_list]))
        for op, bound in (("gt", self.gt), ("gte", self.gte), ("lt", self.lt), ("lte", self.lte)):
            if bound is not None:
                tests.append(getattr(column, {"gte": "ge", "lte": "le"}.get(op, op))(bound))
        if self.matches is not None:
            tests.append(column.str.contains(self.matches))
        return pl.all_horizontal(tests)


def _fits(value: Any, dtype: pl.DataType) -> bool:
    if dtype == pl.Boolean():
        return isinstance(value, bool)
    if dtype.is_numeric():
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, str)


def check_regex(pattern: str) -> None:
    """Raise ValueError naming the problem when Polars' regex engine refuses ``pattern``."""
    try:
        pl.select(pl.lit("").str.contains(pattern))
    except Exception as exc:  # Polars' ComputeError: the pattern does not compile
        first = " ".join(str(exc).split("This error occurred")[0].split())[:200]
        raise ValueError(f"not a valid regex {pattern!r}: {first}") from None


class When(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event_types: list[Literal[EVENT_TYPES]] | None = None  # type: ignore[valid-type]
    text: str | None = None
    fields: dict[str, Condition] = {}
    features: dict[str, Condition] = {}

    @model_validator(mode="after")
    def _valid(self, info: ValidationInfo) -> When:
        if not (self.event_types or self.text or self.fields or self.features):
            raise ValueError("`when` needs at least one condition")
        lists = (info.context or {}).get("lists", {})
        if self.text is not None:
            check_regex(self.text)
        for name, cond in self.fields.items():
            if name not in EVENT_FIELDS:
                raise ValueError(f"fields: unknown event field {name!r}")
            cond.check(f"fields.{name}", EVENT_FIELDS[name], lists)
        for name, cond in self.features.items():
            if name not in FEATURE_COLUMNS:
                raise ValueError(f"features: unknown feature {name!r}")
            cond.check(f"features.{name}", pl.Float64(), lists)
        return self

    @property
    def needs_event(self) -> bool:
        """Whether the rule looks at an event (not only at the user's features)."""
        return bool(self.event_types or self.text or self.fields)


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]
    owner: Annotated[str, Field(min_length=1, max_length=100)]
    note: Annotated[str, Field(min_length=1, max_length=500)]
    action: Literal[ACTIONS]  # type: ignore[valid-type]
    when: When
    enabled: bool = True

    @property
    def reason(self) -> str:
        return f"rule {self.id} ({self.owner}): {self.note}"

    def expr(self, lists: dict[str, list]) -> pl.Expr:
        w = self.when
        tests: list[pl.Expr] = []
        if w.event_types:
            tests.append(pl.col("event_type").is_in(w.event_types))
        if w.text is not None:
            tests.append(pl.col("text").str.contains(w.text))
        tests += [c.expr(pl.col(n), lists) for n, c in w.fields.items()]
        tests += [c.expr(pl.col(n).cast(pl.Float64), lists) for n, c in w.features.items()]
        return pl.all_horizontal(tests).fill_null(False)


@dataclass(frozen=True)
class RuleSet:
    """The enabled rules of one file, in file order, and the lists they refer to."""

    rules: tuple[Rule, ...] = ()
    lists: dict[str, list] = field(default_factory=dict)
    source: str = "no rules file"

    def __len__(self) -> int:
        return len(self.rules)

    def by_id(self, rule_id: str) -> Rule:
        return next(r for r in self.rules if r.id == rule_id)

    def only(self, rule_id: str) -> RuleSet:
        return RuleSet((self.by_id(rule_id),), self.lists, self.source)

    def hits(self, frame: pl.DataFrame) -> pl.DataFrame:
        """One Boolean column per rule (named by its id): which rows of ``frame`` (columns
        ``EVENT_FIELDS`` and features; missing ones are read as null) each rule fires on."""
        missing = [
            pl.lit(None, dtype=t).alias(c)
            for c, t in [*EVENT_FIELDS.items(), *((f, pl.Float64()) for f in FEATURE_COLUMNS)]
            if c not in frame.columns
        ]
        full = frame.with_columns(missing) if missing else frame
        return full.select(r.expr(self.lists).alias(r.id) for r in self.rules)

    def fired(self, row: dict[str, Any]) -> list[Rule]:
        """The rules that fire on one row (an endpoint event's fields and the user's features)."""
        if not self.rules:
            return []
        schema = {**EVENT_FIELDS, **dict.fromkeys(FEATURE_COLUMNS, pl.Float64())}
        frame = pl.DataFrame([{c: row.get(c) for c in schema}], schema=schema, orient="row")
        hit = self.hits(frame).row(0)
        return [r for r, h in zip(self.rules, hit, strict=True) if h]


def parse_rules(text: str, source: str) -> RuleSet:
    """The rule set in ``text`` (YAML), or :class:`RulesError` listing every problem, each naming
    the rule (by id, else by position) and the field."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RulesError(source, [f"not valid YAML: {where}{problem}"]) from None
    if doc is None:
        return RuleSet(source=source)
    if not isinstance(doc, dict):
        raise RulesError(source, ["the file must be a mapping with `rules` (and `lists`)"])
    problems = [
        f"unknown top-level key {k!r} (expected rules, lists)"
        for k in doc
        if k not in ("rules", "lists")
    ]
    lists = _parse_lists(doc.get("lists") or {}, problems)
    raw_rules = doc.get("rules") or []
    if not isinstance(raw_rules, list):
        raise RulesError(source, [*problems, "`rules` must be a list of rules"])
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_rules, 1):
        name = f"rule {raw.get('id')}" if isinstance(raw, dict) and raw.get("id") else f"rule #{i}"
        try:
            rule = Rule.model_validate(raw, context={"lists": lists})
        except ValidationError as exc:
            problems += [f"{name}: {_where(e)}{_message(e)}" for e in exc.errors()]
            continue
        if rule.id in seen:
            problems.append(f"{name}: id: duplicate rule id {rule.id!r}")
        seen.add(rule.id)
        rules.append(rule)
    if problems:
        raise RulesError(source, problems)
    return RuleSet(tuple(r for r in rules if r.enabled), lists, source)


def _parse_lists(raw: Any, problems: list[str]) -> dict[str, list]:
    if not isinstance(raw, dict):
        problems.append("`lists` must map a list name to its values")
        return {}
    lists = {}
    for name, values in raw.items():
        if not isinstance(values, list) or not all(
            isinstance(v, str | int | float) and not isinstance(v, bool) for v in values
        ):
            problems.append(f"list {name}: must be a list of strings or numbers")
            continue
        lists[str(name)] = values
    return lists


def _where(error: Any) -> str:
    loc = ".".join(str(x) for x in error["loc"] if x != "in_")
    return f"{loc}: " if loc else ""


def _message(error: Any) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "string_type" and isinstance(error.get("input"), bool):
        message += " (YAML reads yes / no / on / off as true / false: quote it)"
    return message


def load_rules(path: Path) -> RuleSet:
    """The rule set in the file at ``path`` (absent: no rules); :class:`RulesError` if it is bad."""
    if not path.exists():
        return RuleSet(source=f"{path} (absent: no rules)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(str(path), [f"cannot read the file: {exc}"]) from None
    return parse_rules(text, str(path))


def apply_rules(decision: str, reasons: list[str], fired: list[Rule]) -> Overridden:
    """The decision and reasons once the rules that fired are taken into account (module
    docstring: the strictest action wins; every rule that fired is a reason, before the model's).
    ``rule`` is ``rule:<id>`` of the deciding rule, None where the model decided."""
    if not fired:
        return Overridden(decision, reasons, None)
    top = max(fired, key=lambda r: _SEVERITY[r.action])  # the first of the strictest
    if top.action == BLOCK:
        new = BLOCK
    elif top.action == REVIEW:
        new = decision if _SEVERITY[decision] > _SEVERITY[REVIEW] else REVIEW
    else:
        new = ALLOW
    rule = f"rule:{top.id}" if new == top.action else None
    return Overridden(new, [r.reason for r in fired] + reasons, rule)


def batch_hits(ruleset: RuleSet, features: pl.DataFrame, events: pl.LazyFrame) -> pl.DataFrame:
    """``user_id, rules`` (the ids that fired, in file order) for every user of ``features`` (the
    scored rows, one per user) that a rule fires on.

    Rules see each of the user's ``events`` (rows of ``EVENT_FIELDS``, e.g. the day's: what the
    endpoint saw), with the user's features from ``features``; and one row per user without event
    fields, so that a rule on features alone fires on users who did nothing that day.
    """
    empty = pl.DataFrame(schema={"user_id": pl.String(), "rules": pl.List(pl.String())})
    if not ruleset.rules:
        return empty
    wanted = sorted({f for r in ruleset.rules for f in r.when.features})
    users = features.select("user_id", *wanted)
    needs_event = any(r.when.needs_event for r in ruleset.rules)
    parts = [users]
    if needs_event:
        parts.append(
            events.join(users.lazy(), on="user_id", how="inner")
            .drop(wanted)
            .collect()
            .join(users, on="user_id", how="left")
        )
    rows = pl.concat(parts, how="diagonal_relaxed")
    ids = [r.id for r in ruleset.rules]
    fired = (
        pl.concat([rows.select("user_id"), ruleset.hits(rows)], how="horizontal")
        .group_by("user_id")
        .agg(pl.col(i).any() for i in ids)
        .select(
            "user_id",
            pl.concat_list(pl.when(pl.col(i)).then(pl.lit(i)) for i in ids)
            .list.drop_nulls()
            .alias("rules"),
        )
        .filter(pl.col("rules").list.len() > 0)
    )
    return pl.concat([empty, fired]).sort("user_id")


def apply_rule_hits(scored: pl.DataFrame, hits: pl.DataFrame, ruleset: RuleSet) -> pl.DataFrame:
    """``scored`` (``user_id, decision, reasons, ...``) with the rules of ``hits``
    (:func:`batch_hits`) applied by :func:`apply_rules`. Adds ``rules`` (the ids that fired, empty
    where none) and ``override`` (``rule:<id>`` where a rule decided, else null)."""
    rows = scored.select("user_id", "decision", "reasons").join(hits, on="user_id")
    patch = {"user_id": [], "_decision": [], "_reasons": [], "override": []}  # type: ignore[var-annotated]
    for row in rows.iter_rows(named=True):
        ruled = apply_rules(
            row["decision"], list(row["reasons"]), [ruleset.by_id(i) for i in row["rules"]]
        )
        for key, value in zip(
            patch, (row["user_id"], ruled.decision, ruled.reasons, ruled.rule), strict=True
        ):
            patch[key].append(value)
    frame = pl.DataFrame(
        patch,
        schema={
            "user_id": pl.String(),
            "_decision": pl.String(),
            "_reasons": pl.List(pl.String()),
            "override": pl.String(),
        },
    )
    return (
        scored.join(frame, on="user_id", how="left", maintain_order="left")
        .join(hits, on="user_id", how="left", maintain_order="left")
        .with_columns(
            pl.coalesce("_decision", "decision").alias("decision"),
            pl.coalesce("_reasons", "reasons").alias("reasons"),
            pl.col("rules").fill_null(pl.lit([], dtype=pl.List(pl.String()))),
        )
        .drop("_decision", "_reasons")
    )

"""The rules file: validation names the rule and the field; compiled rules fire on rows of event
fields and features; the precedence labels > rules > model."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from features.event_rows import event_fields
from models.decisions import ALLOW, BLOCK, REVIEW
from models.overrides import KnownLabel, apply_known_label
from models.rules import RulesError, RuleSet, apply_rule_hits, apply_rules, load_rules, parse_rules
from scamguard.events import MessageEvent

GOOD = """
lists:
  blocked_instruments: [card-bad-1, card-bad-2]
rules:
  - id: TASK
    owner: trust-ops
    note: task scam text
    action: block
    when:
      event_types: [message]
      text: '(?i)top up your task account'
  - id: INSTR
    owner: payments
    note: blocked instrument
    action: review
    when:
      fields: {instrument_id: {in_list: blocked_instruments}, amount_usd: {gte: 100}}
  - id: OLD
    owner: ops
    note: long-standing accounts
    action: allow
    when:
      features: {account_age_days: {gte: 1000}}
  - id: SLEEPING
    owner: ops
    note: switched off
    action: block
    enabled: false
    when: {features: {messages_24h: {gte: 0}}}
"""


def _rules() -> RuleSet:
    return parse_rules(GOOD, "good.yaml")


def test_a_good_file_loads_its_enabled_rules_in_order() -> None:
    assert [r.id for r in _rules().rules] == ["TASK", "INSTR", "OLD"]  # SLEEPING is disabled


def test_rules_fire_on_event_fields_text_lists_and_features() -> None:
    rules = _rules()
    message = MessageEvent(
        event_type="message",
        user_id="u1",
        recipient_id="u2",
        text="Please TOP UP your task account",
    )
    assert [r.id for r in rules.fired(event_fields(message))] == ["TASK"]
    payment = {"event_type": "payment", "instrument_id": "card-bad-2", "amount_usd": 150.0}
    assert [r.id for r in rules.fired(payment)] == ["INSTR"]
    assert rules.fired({**payment, "amount_usd": 50.0}) == []  # every condition must hold
    assert [r.id for r in rules.fired({"account_age_days": 2000.0})] == ["OLD"]
    assert rules.fired({"account_age_days": None}) == []  # a null matches nothing


BAD_FILES = [
    ("rules: [{id: R1, owner: o, note: n, action: blok, when: {text: x}}]", "rule R1: action"),
    (
        "rules: [{id: R1, owner: o, note: n, action: block, when: {text: '(?<=a)b'}}]",
        "rule R1: when: not a valid regex",
    ),
    (
        "rules: [{id: R1, owner: o, note: n, action: block, when: {features: {msgs: {gt: 1}}}}]",
        "rule R1: when: features: unknown feature 'msgs'",
    ),
    (
        "rules: [{id: R1, owner: o, note: n, action: block, when: {fields: {colour: {eq: red}}}}]",
        "rule R1: when: fields: unknown event field 'colour'",
    ),
    (
        "rules: [{id: R1, owner: o, note: n, action: block, when: {fields: {country: {gt: 1}}}}]",
        "fields.country is not a number",
    ),
    (
        "rules: [{id: R1, owner: o, note: n, action: block, when: {fields: {amount_usd: {eq: lots}}}}]",
        "fields.amount_usd holds numbers",
    ),
    (
        "rules: [{id: R1, owner: o, note: n, action: block, when: {fields: {ip: {in_list: nope}}}}]",
        "unknown list 'nope'",
    ),
    (
        "rules: [{id: R1, owner: o, note: n, action: block, when: {}}]",
        "needs at least one condition",
    ),
    ("rules: [{owner: o, note: n, action: block, when: {text: x}}]", "rule #1: id: Field required"),
    (
        "rules: [{id: R1, note: n, action: block, when: {text: x}}]",
        "rule R1: owner: Field required",
    ),
    (
        "rules: [{id: R1, owner: o, note: n, action: block, when: {text: x}, colour: red}]",
        "rule R1: colour: Extra inputs",
    ),
    (
        "rules:\n- {id: R1, owner: o, note: n, action: block, when: {text: x}}\n- {id: R1, owner: o, note: n, action: review, when: {text: y}}",
        "duplicate rule id 'R1'",
    ),
    ("rules: [{id: R1, owner: o, note: n\n", "not valid YAML: line"),
    ("- just a list", "must be a mapping"),
    ("rulez: []", "unknown top-level key 'rulez'"),
    ("rules: [{id: off, owner: o, note: n, action: block, when: {text: x}}]", "quote it"),
]


@pytest.mark.parametrize(("text", "names"), BAD_FILES, ids=[n for _, n in BAD_FILES])
def test_a_bad_file_is_a_clear_error_naming_the_rule_and_the_field(text: str, names: str) -> None:
    with pytest.raises(RulesError) as caught:
        parse_rules(text, "bad.yaml")
    assert any(names in p for p in caught.value.problems), caught.value.problems
    assert "\n" not in str(caught.value)  # one line


def test_every_problem_of_a_file_is_listed() -> None:
    text = (
        "rules:\n- {id: A, owner: o, note: n, action: blok, when: {text: x}}\n"
        "- {id: B, owner: o, note: n, action: block, when: {features: {nope: {gt: 1}}}}"
    )
    with pytest.raises(RulesError) as caught:
        parse_rules(text, "bad.yaml")
    assert [p.split(":")[0] for p in caught.value.problems] == ["rule A", "rule B"]


def test_an_absent_file_means_no_rules_and_an_empty_one_too(tmp_path: Path) -> None:
    assert len(load_rules(tmp_path / "rules.yaml")) == 0
    (tmp_path / "rules.yaml").write_text("")
    assert len(load_rules(tmp_path / "rules.yaml")) == 0


def test_the_strictest_action_wins_and_every_rule_that_fired_is_a_reason() -> None:
    rules = {r.id: r for r in _rules().rules}
    both = apply_rules(ALLOW, ["model reason"], [rules["OLD"], rules["TASK"]])
    assert both.decision == BLOCK and both.rule == "rule:TASK"  # a block rule beats an allow rule
    assert both.reasons == [
        "rule OLD (ops): long-standing accounts",
        "rule TASK (trust-ops): task scam text",
        "model reason",
    ]
    assert apply_rules(BLOCK, [], [rules["OLD"]]).decision == ALLOW  # the allow-list lowers a block
    review = apply_rules(BLOCK, [], [rules["INSTR"]])
    assert review.decision == BLOCK and review.rule is None  # review is a floor, not a cap
    assert apply_rules(ALLOW, [], [rules["INSTR"]]).decision == REVIEW
    assert apply_rules(REVIEW, ["r"], []).rule is None


def test_known_labels_come_before_the_rules() -> None:
    rules = {r.id: r for r in _rules().rules}
    decided = datetime(2026, 8, 1, tzinfo=UTC)
    allowed = apply_rules(REVIEW, [], [rules["OLD"]])
    labelled = apply_known_label(
        allowed.decision, allowed.reasons, KnownLabel("fake_client", decided)
    )
    assert (
        labelled.decision == BLOCK and labelled.reasons[0] == "labelled fake_client on 2026-08-01"
    )
    blocked = apply_rules(ALLOW, [], [rules["TASK"]])
    cleared = apply_known_label(blocked.decision, blocked.reasons, KnownLabel("benign", decided))
    assert cleared.decision == REVIEW  # an analyst's benign label caps a rule's block too


def test_rule_hits_patch_a_batch_frame() -> None:
    rules = _rules()
    scored = pl.DataFrame(
        {"user_id": ["a", "b"], "decision": [ALLOW, REVIEW], "reasons": [["x"], ["y"]]}
    )
    hits = pl.DataFrame({"user_id": ["a"], "rules": [["TASK"]]})
    out = apply_rule_hits(scored, hits, rules).sort("user_id")
    assert out["decision"].to_list() == [BLOCK, REVIEW]
    assert out["override"].to_list() == ["rule:TASK", None]
    assert out["rules"].to_list() == [["TASK"], []]
    assert out["reasons"].to_list()[0] == ["rule TASK (trust-ops): task scam text", "x"]

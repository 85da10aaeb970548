"""The recipe ledger (docs/recipe_ledger.yaml): every published value it lists is the value the composed config
holds for its pair and method, or the row says why not; every value cites a pinned source or states an a-priori
reason; every recipe file is ledgered; docs/methods.md's recipe tables are the ones scripts/recipe_table.py makes
from it."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from dasuite.config.catalog import choices
from tests.conftest import compose_config

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("recipe_table", ROOT / "scripts" / "recipe_table.py")
recipe_table = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(recipe_table)

LEDGER = recipe_table.load()
ROWS = LEDGER["rows"]
MISSING = object()


def _row_id(row: dict) -> str:
    return row.get("experiment") or f"{row['dataset']}-{row['method']}"


def _overrides(row: dict) -> list[str]:
    return [f"dataset={row['dataset']}", f"method={row['method']}",
            *([f"experiment={row['experiment']}"] if row.get("experiment") else [])]


def _lookup(config: dict, key: str):
    node = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node


def mismatches(row: dict, config: dict) -> list[str]:
    """What in ``config`` (a composed config, as a container) disagrees with ``row``: one line per value."""
    found = []
    for key, entry in row["values"].items():
        expected = entry["dasuite"] if "differs" in entry else entry["value"]
        composed = _lookup(config, key)
        if composed is MISSING:
            found.append(f"{key}: not in the composed config")
        elif composed != expected or isinstance(composed, bool) != isinstance(expected, bool):
            found.append(f"{key}: composed {composed!r}, the ledger says {expected!r}")
    return found


def _compose(row: dict, *extra: str) -> dict:
    return OmegaConf.to_container(compose_config(*_overrides(row), *extra), resolve=False)


@pytest.mark.parametrize("row", ROWS, ids=[_row_id(r) for r in ROWS])
def test_each_ledgered_value_is_the_composed_one(row):
    assert row["values"], "a row without values"
    assert mismatches(row, _compose(row)) == []


def test_a_value_that_drifts_from_its_source_is_caught():
    row = next(r for r in ROWS if r["dataset"] == "office_home" and r["method"] == "mcc")
    config = _compose(row)
    assert mismatches(row, config) == []
    config["trainer"]["lr"] = 0.01
    del config["method"]["temperature"]
    config["backbone"]["bottleneck_dim"] = 1024
    assert len(mismatches(row, config)) == 3
    drifted = _compose(row, "trainer.epochs=20")  # a recipe or family edited: the composed value moves
    assert mismatches(row, drifted) == ["trainer.epochs: composed 20, the ledger says 30"]


def argued(reason) -> bool:
    """Whether ``reason`` states an a-priori argument: a sentence (eight words or more), not a placeholder."""
    return isinstance(reason, str) and len(reason.split()) >= 8 and "todo" not in reason.lower()


def citation_problems(row: dict, ledger: dict = LEDGER) -> list[str]:
    """What in ``row`` is neither cited from a pinned source nor argued: one line per problem."""
    files, repos, papers = ledger["files"], ledger["repos"], ledger.get("papers", {})

    def cited(source: str) -> bool:
        if source.startswith("paper:"):
            return source.split()[0].removeprefix("paper:") in papers
        alias, _, line = source.partition("#")
        return alias in files and files[alias].split()[0] in repos and bool(not line or re.fullmatch(r"L\d+", line))

    found = [f"repo {name}: commit not pinned" for name, repo in repos.items()
             if not re.fullmatch(r"[0-9a-f]{40}", repo["commit"])]
    if row["follows"].split()[0] not in repos:
        found.append(f"follows {row['follows']!r}: not a pinned repo")
    if "line" in row:
        found += [f"line {row['line']!r}: not a pinned source"] if not cited(row["line"]) else []
    elif not argued(row.get("reason")):
        found.append("neither a source line nor an a-priori reason")
    for key, entry in row["values"].items():
        if "source" in entry and not cited(entry["source"]):
            found.append(f"{key}: {entry['source']!r} is not a pinned source")
        if ("source" not in entry or "reason" in entry) and not argued(entry.get("reason")):
            found.append(f"{key}: neither a pinned source nor an a-priori reason")
        if "differs" in entry or "dasuite" in entry:
            if len(str(entry.get("differs", "")).split()) < 4:
                found.append(f"{key}: a kept difference needs its reason")
            if entry.get("dasuite") == entry["value"]:
                found.append(f"{key}: 'differs' on an equal value")
    found += [f"{item['source']!r} is not a pinned source"
              for item in row.get("variants", []) + row.get("not_reproduced", []) if not cited(item["source"])]
    return found


@pytest.mark.parametrize("row", ROWS, ids=[_row_id(r) for r in ROWS])
def test_each_row_cites_pinned_sources_and_gives_its_reasons(row):
    assert citation_problems(row) == []


def test_an_unsourced_or_unargued_value_is_caught():
    row = {"dataset": "moons_adapt", "method": "mmd", "follows": "adapt", "reason": "a priori",
           "values": {"method.trade_off": {"value": 1.0, "reason": "chosen"},
                      "method.label_smoothing": {"value": 0.0},
                      "trainer.lr": {"value": 0.001, "source": "adapt/Two_moons.ipynb#L331"},
                      "trainer.epochs": {"value": 800, "source": "adapt/unpinned.ipynb#L1"}}}
    assert citation_problems(row) == [
        "neither a source line nor an a-priori reason",
        "method.trade_off: neither a pinned source nor an a-priori reason",
        "method.label_smoothing: neither a pinned source nor an a-priori reason",
        "trainer.epochs: 'adapt/unpinned.ipynb#L1' is not a pinned source"]
    row["reason"] = "the network and optimizer of the pair's family, and the method's own published weight"
    row["values"]["method.trade_off"]["reason"] = "the method's published weight, of the cross-entropy's order here"
    row["values"]["method.label_smoothing"]["source"] = "adapt/Two_moons.ipynb#L331"
    row["values"]["trainer.epochs"]["source"] = "adapt/Two_moons.ipynb#L354"
    assert citation_problems(row) == []


@pytest.mark.parametrize("row", [r for r in ROWS if r.get("variants")],
                         ids=[_row_id(r) for r in ROWS if r.get("variants")])
def test_each_published_variant_is_one_override_away(row):
    for variant in row["variants"]:
        key, value = variant["override"].split("=", 1)
        composed = _lookup(_compose(row, variant["override"]), key)
        assert recipe_table.text(composed) == value and composed != _lookup(_compose(row), key)


def test_every_recipe_file_is_ledgered():
    ledgered = {compose_config(*_overrides(row), with_hydra=True).hydra.runtime.choices.recipe for row in ROWS}
    assert set(choices("recipe")) - {"none"} - ledgered == set()


def test_the_docs_recipe_tables_are_generated_from_the_ledger():
    document = recipe_table.DOC.read_text(encoding="utf-8")
    assert recipe_table.splice(document, recipe_table.render(LEDGER)) == document, \
        "docs/methods.md's recipe tables differ from the ledger: run python scripts/recipe_table.py --write"

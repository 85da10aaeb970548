"""The recipe ledger (docs/recipe_ledger.yaml): every published value it lists is the value the composed config
holds for its pair and method, or the row says why not; every recipe file is ledgered; docs/methods.md's recipe
tables are the ones scripts/recipe_table.py makes from it."""

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


@pytest.mark.parametrize("row", ROWS, ids=[_row_id(r) for r in ROWS])
def test_each_row_cites_pinned_sources_and_gives_its_reasons(row):
    files, repos, papers = LEDGER["files"], LEDGER["repos"], LEDGER.get("papers", {})
    assert all(re.fullmatch(r"[0-9a-f]{40}", repo["commit"]) for repo in repos.values())
    assert row["follows"].split()[0] in repos, row["follows"]

    def cited(source: str) -> bool:
        if source.startswith("paper:"):
            return source.split()[0].removeprefix("paper:") in papers
        alias, _, line = source.partition("#")
        return alias in files and files[alias].split()[0] in repos and (not line or re.fullmatch(r"L\d+", line))

    sources = [row["line"], *(e["source"] for e in row["values"].values()),
               *(e["source"] for e in row.get("variants", []) + row.get("not_reproduced", []))]
    assert [s for s in sources if not cited(s)] == []
    for key, entry in row["values"].items():
        if "differs" in entry or "dasuite" in entry:
            assert len(str(entry.get("differs", "")).split()) >= 4, f"{key}: a kept difference needs its reason"
            assert entry["dasuite"] != entry["value"], f"{key}: 'differs' on an equal value"


@pytest.mark.parametrize("row", [r for r in ROWS if r.get("variants")],
                         ids=[_row_id(r) for r in ROWS if r.get("variants")])
def test_each_published_variant_is_one_override_away(row):
    for variant in row["variants"]:
        key, value = variant["override"].split("=", 1)
        composed = _lookup(_compose(row, variant["override"]), key)
        assert str(composed) == value and composed != _lookup(_compose(row), key)


def test_every_recipe_file_is_ledgered():
    ledgered = {compose_config(*_overrides(row), with_hydra=True).hydra.runtime.choices.recipe for row in ROWS}
    assert set(choices("recipe")) - {"none"} - ledgered == set()


def test_the_docs_recipe_tables_are_generated_from_the_ledger():
    document = recipe_table.DOC.read_text(encoding="utf-8")
    assert recipe_table.splice(document, recipe_table.render(LEDGER)) == document, \
        "docs/methods.md's recipe tables differ from the ledger: run python scripts/recipe_table.py --write"

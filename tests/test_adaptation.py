"""Does adaptation help? Measured against source-only on the toy pairs, 3 seeds, default settings.

`moons_adapt` (the default pair: ADAPT's two moons with its published recipe, configs/family/
adapt_moons.yaml and configs/recipe/adapt_moons_*.yaml), seeds 0-2, measured on the 2-core CPU development
machine: source-only 79.5 / 76.0 / 77.2 % (mean 77.6), DANN 99.1 / 94.1 / 82.0 % (mean 91.7, +14.1 points;
before issue 28's recipe changes 86.6, +9.1); the margin asserted is about half the earlier gain.

`blobs` (3 Gaussian classes, target translated by (1.5, 1.5)), 100 epochs, seeds 0-2: source-only
94.5 %, DANN 98.3 %, MMD 98.8 % (TLL's form, issue 28; 97.4 % before) mean target accuracy; the margins
asserted are about half the measured gains.

`moons` (the DANN paper's two moons, target rotated 35°), the generic settings (`recipe=none`: 300
epochs, MLP [64, 64]; DANN's own shallow recipe, configs/recipe/moons_dann.yaml, runs 75,000
per-example steps and is measured in docs/methods.md instead), seeds 0-2, mean target accuracy in %, measured on the 2-core CPU
development machine (`pytest -s` prints them), minus source-only's 72.8:

    shot 80.1 (+7.3; seeds 75.1/87.4/77.7)   finetune, 5 labels/class 81.9 (+9.1)   adda 75.2 (+2.4)
    rotation 73.7 (+0.9)   coral 72.8 (+0.0: its term, /4d² with d = 64, stays ~1e-5)
    self_training 69.6 (-3.2)   jan 68.4 (-4.4)   dann 67.8 (-5.0)   mmd 67.3 (-5.5)
    self_training on dann 67.4 (-5.4)   cdan 66.9 (-5.9)   cdan+E 67.2 (-5.6)   mcc 66.7 (-6.1)

(shot, mmd and cdan+E remeasured after issue 28 made them follow their official code; before: shot 83.7,
mmd 67.8, cdan+E 66.8.)

So the expectation that every adaptation method at least matches source-only on moons does
NOT hold for the eight methods that share one encoder between the domains and align marginal or
prediction statistics. Why (see the report in docs/methods.md, "The toy pairs"): the misclassified
target points are the moons' tips, far from the source boundary, so source-only is confidently
wrong there; alignment (DANN, MMD, JAN, CDAN) matches the rotated marginal with the classes
mismatched (longer training aligns fully, MMD² ~ 0, and stays below), and confidence-based terms
(MCC, self-training, CDAN+E's weights) reinforce the confident mistakes. The same
implementations gain 3-5 points on `blobs`. The default pair and the method defaults were left
as they are (the paper's data, the papers' hyper-parameters) rather than tuned on target labels.

What is asserted: methods measured at or above source-only must stay there (fine-tuning, SHOT and
ADDA by about half their measured margin, the others at least equal); the eight below are strict xfails
of the same check, so the suite reports it if one starts to pass; and no method may fall more
than 10 points below source-only (a collapse, e.g. a sign error in a loss, would).
"""

import statistics

import pytest

import dasuite.engine.run_folder
from tests.conftest import train_in_process

SEEDS = (0, 1, 2)

MOONS = {
    "source_only": ["method=source_only"],
    "adda": ["method=adda"],
    "finetune": ["method=finetune"],
    "shot": ["method=shot"],
    "rotation": ["method=rotation"],
    "coral": ["method=coral"],
    "self_training": ["method=self_training"],
    "jan": ["method=jan"],
    "dann": ["method=dann"],
    "mmd": ["method=mmd"],
    "self_training_on_dann": ["method=self_training", "method.base=dann"],
    "cdan": ["method=cdan"],
    "cdan_e": ["method=cdan", "method.entropy=true"],
    "mcc": ["method=mcc"],
}
#: minimum gain over source-only asserted on moons (about half the measured gain; 0 for the small ones)
MARGIN = {"finetune": 0.04, "shot": 0.05, "adda": 0.01, "rotation": 0.0, "coral": 0.0}
#: the validators' evaluations of intermediate epochs are not what these tests check (the last is always evaluated)
LAST_EPOCH_ONLY = ("trainer.eval_every=1000",)
#: measured below source-only on moons with the default settings (see the module docstring)
BELOW = {"self_training", "jan", "dann", "mmd", "self_training_on_dann", "cdan", "cdan_e", "mcc"}


def _mean_target_acc(root, name, overrides, *extra, recipes=False):
    runs = [train_in_process(root / f"{name}{seed}", *overrides, *extra, f"seed={seed}", *LAST_EPOCH_ONLY,
                             recipes=recipes) for seed in SEEDS]
    assert all(run["status"] == "completed" for run in runs), [run.get("error") for run in runs]
    return statistics.mean(run["target_acc"] for run in runs)


@pytest.fixture(scope="module")
def no_checkpoints():
    """Checkpoints are not what these tests check; skipping them halves the time of a toy run."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dasuite.engine.run_folder.RunFolder, "save_checkpoint", lambda self, state: None)
        patch.setattr(dasuite.engine.run_folder.RunFolder, "copy_checkpoint", lambda self, source, name: None)
        yield


@pytest.fixture(scope="module")
def default_pair_target_acc(tmp_path_factory, no_checkpoints):
    root = tmp_path_factory.mktemp("default")
    acc = {m: _mean_target_acc(root, m, [f"method={m}"], recipes=True) for m in ("source_only", "dann")}
    print("moons_adapt mean target accuracy:", {k: round(100 * v, 1) for k, v in acc.items()})
    return acc


def test_dann_beats_source_only_on_the_default_pair(default_pair_target_acc):
    assert default_pair_target_acc["dann"] >= default_pair_target_acc["source_only"] + 0.045


@pytest.fixture(scope="module")
def blobs_target_acc(tmp_path_factory, no_checkpoints):
    root = tmp_path_factory.mktemp("blobs")
    acc = {m: _mean_target_acc(root, m, [f"method={m}"], "dataset=blobs", "trainer.epochs=100")
           for m in ("source_only", "dann", "mmd")}
    print("blobs mean target accuracy:", {k: round(100 * v, 1) for k, v in acc.items()})
    return acc


def test_dann_beats_source_only_on_shifted_blobs(blobs_target_acc):
    assert blobs_target_acc["dann"] >= blobs_target_acc["source_only"] + 0.02


def test_mmd_beats_source_only_on_shifted_blobs(blobs_target_acc):
    assert blobs_target_acc["mmd"] >= blobs_target_acc["source_only"] + 0.015


@pytest.fixture(scope="module")
def moons_target_acc(tmp_path_factory, no_checkpoints):
    root = tmp_path_factory.mktemp("moons")
    acc = {name: _mean_target_acc(root, name, overrides) for name, overrides in MOONS.items()}  # GENERIC: moons
    print("moons mean target accuracy:", {k: round(100 * v, 1) for k, v in acc.items()})
    return acc


@pytest.mark.parametrize("method", [pytest.param(m, marks=pytest.mark.xfail(
    strict=True, reason="measured below source-only on the 35° moons (module docstring)")) if m in BELOW else m
    for m in MOONS if m != "source_only"])
def test_adaptation_at_least_matches_source_only_on_moons(moons_target_acc, method):
    assert moons_target_acc[method] >= moons_target_acc["source_only"] + MARGIN.get(method, 0.0)


@pytest.mark.parametrize("method", [m for m in MOONS if m != "source_only"])
def test_no_method_collapses_on_moons(moons_target_acc, method):
    assert moons_target_acc[method] >= moons_target_acc["source_only"] - 0.10

"""The callbacks around the training loop, each alone on a fake loop state, and from the config."""

from __future__ import annotations

import io
import math
import signal
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from dasuite.engine.callbacks.base import Callback, Callbacks
from dasuite.engine.callbacks.checkpointing import Checkpointing
from dasuite.engine.callbacks.defaults import default_callbacks
from dasuite.engine.callbacks.divergence_check import DivergenceCheck
from dasuite.engine.callbacks.early_stopping import EarlyStopping
from dasuite.engine.callbacks.evaluation import Evaluation
from dasuite.engine.callbacks.metrics_log import MetricsLog
from dasuite.engine.callbacks.model_selection import ModelSelection
from dasuite.engine.callbacks.ordering import arrange
from dasuite.engine.callbacks.progress import Progress
from dasuite.engine.callbacks.signal_stop import SignalStop
from dasuite.engine.admission import check_targets
from dasuite.engine.divergence import TrainingDiverged
from dasuite.engine.run_folder import RunFolder
from dasuite.engine.signals import TrainingInterrupted
from dasuite.errors import ConfigError
from tests.conftest import train_in_process


class WritesFile(Callback):
    """A user's callback: one line per hook it sees, in the file ``path``."""

    def __init__(self, path: str):
        self.path = Path(path)

    def _note(self, what: str) -> None:
        with open(self.path, "a") as f:
            f.write(what + "\n")

    def before_fit(self, state) -> None:
        self._note("before_fit")

    def after_evaluation(self, state, record: dict) -> None:
        self._note(f"evaluated {record['epoch']}")

    def after_fit(self, state) -> None:
        self._note("after_fit")


def fake_state(tmp_path: Path | None = None, steps: int = 5, epochs: int = 2, stages: int = 1, **fields):
    """What a callback reads of a FitState, without a model or data."""
    plan = [(SimpleNamespace(name=f"stage{i}"), epochs, steps) for i in range(stages)]
    state = SimpleNamespace(plan=plan, stage_index=stages - 1, stage_epoch=0, epoch_step=0, record=None,
                            at=SimpleNamespace(epoch=0, step=0, partial=None), saved_epoch=0, stop_reason=None,
                            device=torch.device("cpu"), run=RunFolder(tmp_path) if tmp_path else None, losses={},
                            trainer=SimpleNamespace(lr=0.01, dist=SimpleNamespace(on_main=lambda f, *a: f(*a))),
                            summary={}, selection={}, saved=[], **{"extra": {}, **fields})
    state.stage = plan[-1][0]
    state.epochs, state.steps_per_epoch, state.last_stage = epochs, steps, True
    state.last_step = False
    state.request_stop = lambda reason: setattr(state, "stop_reason", reason)
    state.save_checkpoint = lambda mid_epoch=False: state.saved.append((state.at.epoch, mid_epoch))
    state.stop_clock = lambda: None
    return state


def test_hooks_call_only_the_callbacks_that_override_them_in_list_order():
    calls = []

    class A(Callback):
        def after_step(self, state):
            calls.append("a")

    class B(Callback):
        def after_step(self, state):
            calls.append("b")

        def teardown(self, state):
            calls.append("b teardown")

    hooks = Callbacks([A(), Callback(), B()])
    hooks.after_step(None)
    hooks.before_step(None)
    hooks.teardown(None)
    assert calls == ["a", "b", "b teardown"]


def test_checkpointing_saves_evaluated_epochs_only(tmp_path):
    state, callback = fake_state(), Checkpointing()
    callback.after_epoch(state)
    state.at.epoch, state.record = 1, {"epoch": 1}
    callback.after_epoch(state)
    assert state.saved == [(1, False)]


def test_divergence_check_stops_at_the_nan_step_with_the_hint_of_the_method():
    state = fake_state(method=SimpleNamespace(adaptation_weight="trade_off", trade_off=0.3))
    callback = DivergenceCheck()
    callback.before_fit(state)
    state.losses = {"main": ({"cls": torch.tensor(0.5)}, torch.tensor(0.5))}
    state.at.step = 1
    callback.after_step(state)
    state.losses = {"main": ({"cls": torch.tensor(math.nan)}, torch.tensor(math.nan))}
    state.at.step = 2
    with pytest.raises(TrainingDiverged, match=r"step 2 \(epoch 1, stage stage0, optimizer main\)") as caught:
        callback.after_step(state)
    assert str(caught.value).endswith("Lower trainer.lr or method.trade_off (now trainer.lr=0.01, "
                                      "method.trade_off=0.3).")


def test_model_selection_offers_last_stage_evaluations_and_copies_the_pick_after_the_save(tmp_path):
    state = fake_state(tmp_path)
    RunFolder(tmp_path).save_checkpoint({"epoch": 1})
    callback = ModelSelection("source_acc")
    state.last_stage = False
    callback.after_evaluation(state, {"epoch": 1, "val/source_acc": 0.9})
    callback.after_epoch(state)
    assert not (tmp_path / "checkpoints" / "best.pt").exists()  # pretraining stages are no candidates
    state.last_stage = True
    callback.after_evaluation(state, {"epoch": 1, "val/source_acc": 0.5})
    callback.after_epoch(state)
    assert (tmp_path / "checkpoints" / "best.pt").is_file()
    checkpoint = {}
    callback.on_save_checkpoint(state, checkpoint)
    assert checkpoint["selection"]["epoch"] == 1
    callback.after_fit(state)
    assert state.selection["best_epoch"] == 1 and state.selection["select"] == "source_acc"


def test_metrics_log_appends_each_evaluation_to_metrics_jsonl(tmp_path):
    state, callback = fake_state(tmp_path), MetricsLog()
    callback.before_fit(state)
    for epoch in (1, 2):
        state.at.epoch = epoch
        callback.after_evaluation(state, {"epoch": epoch, "train/loss": 0.5})
    assert [r["epoch"] for r in RunFolder(tmp_path).read_metrics()] == [1, 2]


def test_progress_without_a_terminal_writes_about_ten_whole_lines_and_no_carriage_return():
    stream = io.StringIO()  # isatty() is False, as in a Slurm log or a pipe
    state, callback = fake_state(steps=50, epochs=2), Progress(stream)
    callback.before_fit(state)
    for _ in range(100):
        callback.after_step(state)
    callback.after_evaluation(state, {"epoch": 2, "train/loss": 0.25, "target/acc": 0.5})
    callback.teardown(state)
    text = stream.getvalue()
    assert "\r" not in text and text.endswith("\n")
    lines = text.splitlines()
    assert len(lines) == 10 and lines[-1].startswith("stage0: 100% 100/100 steps") and "step/s" in lines[0]


def test_a_signal_saves_a_mid_epoch_checkpoint_and_stops(tmp_path):
    state, callback = fake_state(tmp_path), SignalStop()
    callback.before_stage(state)
    try:
        callback.after_step(state)  # no signal: goes on
        callback.requests.signal = signal.SIGTERM
        state.at.step = 3
        with pytest.raises(TrainingInterrupted, match="during epoch 1 after step 3") as caught:
            callback.after_step(state)
        assert caught.value.exit_code == 128 + signal.SIGTERM and state.saved == [(0, True)]
    finally:
        callback.teardown(state)
    assert signal.getsignal(signal.SIGTERM) is not callback.requests  # handlers restored


def test_ctrl_c_stops_at_once_during_the_initial_plots(tmp_path, monkeypatch):
    from dasuite.engine.callbacks import diagnostic_plots

    handlers = []

    class Diagnostics:  # records which SIGINT handler is in force while the initial plots run
        def __init__(self, *args):
            pass

        def initial(self, method):
            handlers.append(signal.getsignal(signal.SIGINT))

    monkeypatch.setattr(diagnostic_plots, "Diagnostics", Diagnostics)
    state = fake_state(tmp_path, pair=None, seed=0, resume=None, method=None)
    hooks = Callbacks([SignalStop(), diagnostic_plots.DiagnosticPlots(4)])
    before = signal.getsignal(signal.SIGINT)
    try:
        hooks.before_fit(state)
        assert handlers == [before]  # the default handler: KeyboardInterrupt at once
        hooks.before_stage(state)
        assert signal.getsignal(signal.SIGINT) is not before  # training: a stop after the step
    finally:
        hooks.teardown(state)
    assert signal.getsignal(signal.SIGINT) is before


def test_early_stopping_stops_at_the_evaluation_that_exhausts_its_patience():
    state, callback = fake_state(), EarlyStopping("im", patience=2, min_delta=0.01)
    stopped_at = None
    for epoch, value in enumerate([0.5, 0.6, 0.605, 0.55, 0.9], start=1):  # 0.605: not by more than 0.01
        callback.after_evaluation(state, {"epoch": epoch, "val/im": value})
        if state.stop_reason:  # the loop ends training after this epoch
            stopped_at = epoch
            break
    assert stopped_at == 4 and "val/im did not improve by more than 0.01 for 2 evaluation(s) after epoch 2" \
        in state.stop_reason
    saved = {}
    callback.on_save_checkpoint(state, saved)
    other = EarlyStopping("entropy", patience=3)
    other.on_save_checkpoint(state, saved)  # a second instance keeps its own entry
    again = EarlyStopping("im", patience=2, min_delta=0.01)
    again.on_load_checkpoint(state, saved)
    assert (again.best, again.best_epoch, again.wait) == (0.6, 2, 2)


def test_early_stopping_ignores_pretraining_stages_and_names_bad_settings():
    state, callback = fake_state(), EarlyStopping("im", patience=1)
    state.last_stage = False
    for epoch in (1, 2, 3):
        callback.after_evaluation(state, {"epoch": epoch, "val/im": 0.1})
    assert state.stop_reason is None
    state.last_stage = True
    with pytest.raises(ConfigError, match="validator='snd': this run's evaluations record no val/snd; the "
                                          "validators they record: entropy, im"):
        EarlyStopping("snd", patience=1).after_evaluation(state, {"epoch": 4, "val/im": 0.1, "val/entropy": 0.2,
                                                                  "target/acc": 0.5})
    with pytest.raises(ConfigError, match="validator='accuracy' is not a validator; valid choices: source_acc"):
        EarlyStopping("accuracy")
    with pytest.raises(ConfigError, match="patience=0 must be an integer >= 1"):
        EarlyStopping("im", patience=0)


CALLBACK = "tests.test_callbacks.WritesFile"
STOPPING = "dasuite.engine.callbacks.early_stopping.EarlyStopping"


def test_a_user_callback_from_the_config_runs_and_early_stopping_ends_the_run(tmp_path):
    notes = tmp_path / "notes.txt"
    summary = train_in_process(tmp_path / "run", "trainer.epochs=5", "trainer.steps_per_epoch=1", "method=source_only",
                               f"trainer.callbacks=[{{_target_:{CALLBACK},path:'{notes}'}},"
                               f"{{_target_:{STOPPING},validator:source_acc,patience:1,min_delta:1.0}}]")
    assert summary["status"] == "completed", summary.get("error")
    # nothing improves by more than 1.0: the second evaluation ends the run
    assert summary["epochs"] == 2 and "val/source_acc did not improve" in summary["stopped_early"]
    assert notes.read_text().splitlines() == ["before_fit", "evaluated 1", "evaluated 2", "after_fit"]
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert state["epoch"] == 2 and state["callbacks"]["early_stopping/val/source_acc"]["wait"] == 1


def test_a_stored_config_may_name_a_callback_class_of_a_trusted_module_but_nothing_else():
    callbacks = {"trainer": {"callbacks": [{"_target_": CALLBACK}, {"_target_": STOPPING}]}}
    check_targets(callbacks, "a file", modules=["tests"])
    with pytest.raises(ConfigError, match=r"trainer.callbacks\[0\]._target_='tests.test_callbacks.WritesFile'"):
        check_targets(callbacks, "a file")  # dasuite's own EarlyStopping alone is admitted
    check_targets({"trainer": {"callbacks": [{"_target_": STOPPING}]}}, "a file")
    with pytest.raises(ConfigError, match=r"trainer.callbacks\[0\]._target_='os.system'"):
        check_targets({"trainer": {"callbacks": [{"_target_": "os.system"}]}}, "a file", modules=["tests", "os"])


def test_a_callbacks_entry_that_is_no_callback_is_named(tmp_path):
    summary = train_in_process(tmp_path, "trainer.callbacks=[{_target_:collections.OrderedDict}]")
    assert summary["status"] == "failed" and "trainer.callbacks[0] is OrderedDict()" in summary["error"]


def _names(callbacks) -> list[str]:
    return [type(c).__name__ for c in callbacks]


BUILT_IN = ["Checkpointing", "DivergenceCheck", "Evaluation", "OnlineAccuracy", "ModelSelection", "MetricsLog",
            "Progress", "SignalStop", "DiagnosticPlots"]


def test_a_callback_of_a_built_ins_class_replaces_it_in_place_and_others_are_added():
    mine, stopping = ModelSelection("im"), EarlyStopping("im")
    callbacks = default_callbacks(stopping, mine, plots=False)
    assert _names(callbacks) == [*BUILT_IN[:-1], "EarlyStopping"]
    assert callbacks[4] is mine and callbacks[-1] is stopping
    assert _names(default_callbacks(select=None, progress=False)) == ["Checkpointing", "DivergenceCheck", "Evaluation",
                                                                       "OnlineAccuracy", "MetricsLog", "SignalStop",
                                                                       "DiagnosticPlots"]
    with pytest.raises(ConfigError, match="trainer.plots='no' must be true or false"):
        default_callbacks(plots="no")


def test_declared_dependencies_order_the_list_and_keep_its_order_otherwise():
    class AfterPick(Callback):  # reads the pick in after_epoch, so after ModelSelection has copied best.pt
        after = (ModelSelection,)

    class Plain(Callback):
        pass

    given = [AfterPick(), Plain(), *reversed(default_callbacks())]
    # of those free to run, the earliest given first; SignalStop after all but DiagnosticPlots, which runs after it
    assert _names(arrange(given)) == ["Plain", "Progress", "MetricsLog", "OnlineAccuracy", "Evaluation",
                                      "Checkpointing", "ModelSelection", "AfterPick", "DivergenceCheck", "SignalStop",
                                      "DiagnosticPlots"]
    assert _names(arrange(default_callbacks(AfterPick(), Plain()))) == [*BUILT_IN[:7], "AfterPick", "Plain",
                                                                        *BUILT_IN[7:]]


def test_a_cycle_or_a_missing_requirement_is_one_paragraph_naming_the_callbacks():
    class First(Callback):
        pass

    class Second(Callback):
        after = (First,)

    First.after = (Second,)
    with pytest.raises(ConfigError, match=r"the callbacks First, Second declare a cycle: First runs after Second, "
                                          r"Second runs after First, so no order"):
        arrange([Checkpointing(), First(), Second()])
    with pytest.raises(ConfigError, match=r"ModelSelection needs a Checkpointing callback to run after, but the "
                                          r"callback list \(Evaluation, ModelSelection\) has none"):
        arrange([Evaluation(), ModelSelection()])

    class Broken(Callback):
        after = ("ModelSelection",)

    with pytest.raises(ConfigError, match="Broken declares it runs after 'ModelSelection', which is no callback class"):
        arrange([Broken()])


def test_two_callbacks_that_both_run_last_are_a_cycle():
    class AlsoLast(Callback):
        after = (Callback,)

    with pytest.raises(ConfigError, match="declare a cycle: SignalStop runs after AlsoLast, AlsoLast runs after "
                                          "SignalStop"):
        arrange([SignalStop(), AlsoLast()])


def test_select_null_trains_without_a_pick(tmp_path):
    summary = train_in_process(tmp_path, "trainer.epochs=2", "trainer.select=null")
    assert summary["status"] == "completed", summary.get("error")
    assert "select" not in summary and "best_epoch" not in summary
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["last.pt"]
    assert "selection" not in torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)


def test_a_methods_callbacks_join_the_list(tmp_path, monkeypatch):
    from dasuite.methods.source_only import SourceOnly

    seen = []

    class CountsSteps(Callback):
        def after_step(self, state):
            seen.append(state.at.step)

    monkeypatch.setattr(SourceOnly, "callbacks", lambda self: [CountsSteps()])
    summary = train_in_process(tmp_path, "method=source_only", "trainer.epochs=2", "trainer.steps_per_epoch=3")
    assert summary["status"] == "completed" and seen == [1, 2, 3, 4, 5, 6]

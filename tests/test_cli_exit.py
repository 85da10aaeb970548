"""The installed program ends without the interpreter's teardown once its work is written (about a second with
torch loaded), unless processes it started still run: their teardown stops them. ``main`` itself, which
Python callers use, always exits normally."""

import multiprocessing
import subprocess
import sys
import time

import pytest

import dasuite.cli as cli


@pytest.fixture
def command_exits_3(monkeypatch):
    """A command that ends with status 3, torch loaded; returns the codes the fast exit was asked for."""
    import torch  # noqa: F401 - the condition for skipping the teardown

    ended = []
    monkeypatch.setattr(cli, "_command", lambda args: sys.exit(3))
    monkeypatch.setattr(cli, "_exit_without_teardown", ended.append)
    monkeypatch.setattr(sys, "argv", ["dasuite", "train"])
    return ended


def test_the_program_skips_the_teardown_with_its_exit_code(command_exits_3, monkeypatch):
    monkeypatch.setattr(cli, "_has_live_children", lambda: False)
    with pytest.raises(SystemExit):  # the stand-in returns; the real one ends the process
        cli.entry()
    assert command_exits_3 == [3]


def test_live_child_processes_get_the_normal_exit(command_exits_3, monkeypatch):
    monkeypatch.setattr(cli, "_has_live_children", lambda: True)
    with pytest.raises(SystemExit) as done:
        cli.entry()
    assert done.value.code == 3 and command_exits_3 == []


def test_main_always_exits_normally(command_exits_3, monkeypatch):
    monkeypatch.setattr(cli, "_has_live_children", lambda: False)
    for argv in (None, ["train"]):
        with pytest.raises(SystemExit) as done:
            cli.main(argv)
        assert done.value.code == 3 and command_exits_3 == []


def test_has_live_children_sees_a_running_child_until_it_ends(monkeypatch):
    child = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(30,))
    child.start()
    try:
        assert cli._has_live_children()
    finally:
        child.terminate()
        child.join()
    assert child not in multiprocessing.active_children()
    monkeypatch.setattr(multiprocessing, "active_children", list)  # none (other tests' workers aside)
    assert not cli._has_live_children()


def test_the_fast_exit_keeps_output_exit_handlers_and_a_message_code():
    program = ("import atexit, logging, sys\n"
               "from dasuite.cli import _exit_without_teardown\n"
               "atexit.register(lambda: print('exit handler ran', flush=True))\n"
               "logging.basicConfig(stream=sys.stderr)\n"
               "print('written before', end='')\n"
               "logging.getLogger('x').warning('logged before')\n"
               "_exit_without_teardown('the reason')\n"
               "print('never')\n")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stdout == "written beforeexit handler ran\n"
    assert "logged before" in done.stderr and done.stderr.rstrip().endswith("the reason")

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from infrastructure.runtime.signals import stop_on_signals


@pytest.fixture(autouse=True)
def restored_handlers() -> Iterator[None]:
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_sets_the_event(sig: signal.Signals) -> None:
    stop = stop_on_signals()
    assert not stop.is_set()
    os.kill(os.getpid(), sig)
    assert stop.wait(5)


def test_a_child_ignores_ctrl_c_and_stops_on_sigterm() -> None:
    stop = stop_on_signals(interrupt=False)
    os.kill(os.getpid(), signal.SIGINT)
    assert not stop.is_set()
    os.kill(os.getpid(), signal.SIGTERM)
    assert stop.wait(5)

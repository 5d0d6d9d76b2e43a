"""Without chromium the dashboard's tests fail, saying how to get it: never a silent skip."""

from __future__ import annotations

import pytest

from tests.e2e.dashboard import support


def test_a_missing_chromium_fails_and_says_make_test_installs_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(support.shutil, "which", lambda name: None)
    with (
        pytest.raises(pytest.fail.Exception, match=r"`make test` installs it"),
        support.chromium(),
    ):
        pass  # pragma: no cover (never reached)

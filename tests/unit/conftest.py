"""Unit tests are pure: no database, no network. A test here that opens an IP connection (to
Postgres, a stand-in or anything else) fails; it belongs in tests/db, tests/contract or tests/e2e."""

from __future__ import annotations

import socket

import pytest

_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex


def _refuse(original):
    def connect(self: socket.socket, address):  # type: ignore[no-untyped-def]
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise AssertionError(f"a unit test opened a network connection to {address}: move it to tests/db, "
                                 "tests/contract or tests/e2e")
        return original(self, address)

    return connect


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _refuse(_connect))
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse(_connect_ex))

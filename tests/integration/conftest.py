"""Shared pytest fixtures: a running mailseal with a Python sink as next hop."""

import pytest

from harness import Mailseal, PySink


@pytest.fixture
def sink():
    s = PySink().start()
    yield s
    s.stop()


@pytest.fixture
def gateway(tmp_path, sink):
    """mailseal whose inside and outside next hops are the same Python sink."""
    with Mailseal(tmp_path, inside_next_hop=sink.next_hop(), outside_next_hop=sink.next_hop()) as g:
        yield g

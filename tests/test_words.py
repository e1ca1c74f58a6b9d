"""How sizes are written for a person: the unit that keeps the number short, bytes whole, the rest to a tenth."""

from __future__ import annotations

import pytest

from cairn.words import byte_size


@pytest.mark.parametrize(("count", "shown"), [(0, "0 bytes"), (812, "812 bytes"), (1023, "1023 bytes"),
                                              (1024, "1.0 KiB"), (3_500, "3.4 KiB"), (1_048_575, "1.0 MiB"),
                                              (42_257_612, "40.3 MiB"),
                                              (5 * 1024**3, "5.0 GiB"), (3 * 1024**4, "3072.0 GiB")])
def test_byte_size(count, shown):
    assert byte_size(count) == shown

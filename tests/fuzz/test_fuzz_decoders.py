"""Every decoder target from fuzz_targets.py, briefly: a correct result or a short ClientError, nothing else.

CI runs a modest number of examples per target; bench/fuzz_all.py runs the same targets for minutes.
"""

from __future__ import annotations

import pytest
from fuzz_targets import INPUTS, STATS, target

CI_EXAMPLES = 150


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_decoder_gives_a_result_or_a_client_error(name: str) -> None:
    target(name, CI_EXAMPLES)()
    assert STATS[name].inputs >= 1
    assert not STATS[name].crashes

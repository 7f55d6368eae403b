"""Shared test settings: data that lives outside the repository is optional."""
import pytest

from arforecast.datasets import find_data


def _have(relative: str) -> bool:
    try:
        find_data(relative)
    except FileNotFoundError:
        return False
    return True


#: the NAB development subset is read from ../shared/datasets (or $ARFORECAST_DATA) when present
requires_nab = pytest.mark.skipif(not _have("nab/combined_windows.json"),
                                  reason="NAB subset not found (../shared/datasets/nab or $ARFORECAST_DATA)")

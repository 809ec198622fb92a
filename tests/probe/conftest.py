import pytest

torch = pytest.importorskip("torch", reason="the probe tests need torch: pip install '.[probe]'")


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)
    yield

"""gpu.power_limit_w and gpu.clocks_mhz against a stand-in for Zeus's GPUs object (zeus.device.get_gpus)."""

import pytest

from sustain.energy.gpu_settings import applied
from sustain.errors import SustainError


class FakeGPUs:
    """Zeus's GPUs interface as gpu_settings uses it: limits in mW, clocks in MHz, per GPU index."""

    def __init__(self, n=2, refuse=None):
        self.limit_mw = {i: 400_000 for i in range(n)}
        self.locked = {i: None for i in range(n)}
        self.refuse = refuse  # (method, index) that raises, e.g. no SYS_ADMIN on GPU 1
        self.calls = []

    def __len__(self):
        return len(self.limit_mw)

    def _maybe_refuse(self, method, index):
        from zeus.device.gpu.common import ZeusGPUNoPermissionError

        self.calls.append((method, index))
        if self.refuse == (method, index):
            raise ZeusGPUNoPermissionError("Insufficient permissions")

    def get_power_management_limit_constraints(self, i):
        return (100_000, 700_000)

    def get_power_management_limit(self, i):
        return self.limit_mw[i]

    def set_power_management_limit(self, i, mw, block=True):
        self._maybe_refuse("set_power_management_limit", i)
        self.limit_mw[i] = mw

    def get_supported_graphics_clocks(self, i, memory_clock_mhz=None):
        return [1980, 1500, 1005, 510]

    def set_gpu_locked_clocks(self, i, low, high, block=True):
        self._maybe_refuse("set_gpu_locked_clocks", i)
        self.locked[i] = (low, high)

    def reset_gpu_locked_clocks(self, i, block=True):
        self.locked[i] = None


@pytest.fixture
def gpus(monkeypatch):
    import zeus.device

    fake = FakeGPUs()
    monkeypatch.setattr(zeus.device, "get_gpus", lambda: fake)
    return fake


def test_settings_hold_during_the_run_and_are_restored_after(gpus):
    gpus.limit_mw[1] = 350_000
    with applied(250.0, 1500, [0, 1]) as tags:
        assert gpus.limit_mw == {0: 250_000, 1: 250_000}
        assert gpus.locked == {0: (1500, 1500), 1: (1500, 1500)}
    assert tags == {"gpu.settings": "gpu.power_limit_w=250 and gpu.clocks_mhz=1500", "gpu.settings.gpus": "0+1"}
    assert gpus.limit_mw == {0: 400_000, 1: 350_000} and gpus.locked == {0: None, 1: None}


def test_settings_are_restored_when_the_run_fails(gpus):
    with pytest.raises(RuntimeError, match="engine died"):
        with applied(300.0, None, [0, 1]):
            assert gpus.limit_mw[0] == 300_000
            raise RuntimeError("engine died")
    assert gpus.limit_mw == {0: 400_000, 1: 400_000}


def test_a_refusal_midway_restores_what_was_already_set(monkeypatch):
    import zeus.device

    fake = FakeGPUs(refuse=("set_gpu_locked_clocks", 1))
    monkeypatch.setattr(zeus.device, "get_gpus", lambda: fake)
    with pytest.raises(SustainError, match="refused by the GPU .*SYS_ADMIN"):
        with applied(200.0, 1005, [0, 1]):
            pytest.fail("the run must not start")
    assert fake.limit_mw == {0: 400_000, 1: 400_000} and fake.locked == {0: None, 1: None}


@pytest.mark.parametrize("limit, clock, match", [
    (900.0, None, r"gpu.power_limit_w=900 is outside GPU 0's range 100-700 W"),
    (None, 1234, r"gpu.clocks_mhz=1234 is not a graphics clock of GPU 0"),
])
def test_settings_the_card_cannot_take_are_refused_before_anything_changes(gpus, limit, clock, match):
    with pytest.raises(SustainError, match=match):
        with applied(limit, clock, [0]):
            pytest.fail("the run must not start")
    assert not [c for c in gpus.calls if c[0].startswith("set")]


def test_no_gpu_or_no_setting(monkeypatch):
    import zeus.device
    from zeus.device.gpu.common import EmptyGPUs

    with applied(None, None, []) as tags:
        assert tags == {}
    with pytest.raises(SustainError, match="run uses none"):
        with applied(250.0, None, []):
            pass
    monkeypatch.setattr(zeus.device, "get_gpus", EmptyGPUs)
    with pytest.raises(SustainError, match="this machine has no GPU"):
        with applied(250.0, None, [0]):
            pass


def test_a_gpu_that_does_not_report_its_clocks_is_refused_in_one_sentence(gpus, monkeypatch):
    from zeus.device.gpu.common import ZeusGPUNotSupportedError

    def unsupported(i, memory_clock_mhz=None):
        raise ZeusGPUNotSupportedError("Not Supported")

    monkeypatch.setattr(gpus, "get_supported_graphics_clocks", unsupported)
    with pytest.raises(SustainError, match="does not report its limits or clocks"):
        with applied(None, 1500, [0]):
            pytest.fail("the run must not start")

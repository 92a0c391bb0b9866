"""Load profiles: arrival offsets, seeds, rates, and the offline engine's refusal."""

import numpy as np
import pytest

from sustain.errors import SustainError
from sustain.load.base import LoadConfig, require_burst
from sustain.load.burst import BurstConfig
from sustain.load.concurrency import ConcurrencyConfig
from sustain.load.poisson import GammaConfig, PoissonConfig
from sustain.plugins import build


def test_burst_sends_everything_at_once():
    profile = build(BurstConfig(), "load")
    assert profile.arrivals(4) == [0.0] * 4 and profile.max_in_flight is None


def test_poisson_arrivals_are_seeded_increasing_and_near_the_rate():
    a = build(PoissonConfig(rate=5.0, seed=3), "load").arrivals(2000)
    assert a == build(PoissonConfig(rate=5.0, seed=3), "load").arrivals(2000)
    assert a != build(PoissonConfig(rate=5.0, seed=4), "load").arrivals(2000)
    assert a[0] == 0.0 and all(x <= y for x, y in zip(a, a[1:]))
    assert (len(a) - 1) / a[-1] == pytest.approx(5.0, rel=0.06)
    gaps = np.diff(a)
    assert np.std(gaps) / np.mean(gaps) == pytest.approx(1.0, rel=0.1)  # exponential: CV 1


def test_gamma_burstiness_sets_the_spread_of_gaps_not_the_rate():
    bursty = np.diff(build(GammaConfig(rate=5.0, burstiness=0.25, seed=1), "load").arrivals(4000))
    regular = np.diff(build(GammaConfig(rate=5.0, burstiness=4.0, seed=1), "load").arrivals(4000))
    assert np.mean(bursty) == pytest.approx(0.2, rel=0.1) and np.mean(regular) == pytest.approx(0.2, rel=0.05)
    assert np.std(bursty) / np.mean(bursty) == pytest.approx(2.0, rel=0.15)  # gamma CV = 1/sqrt(shape)
    assert np.std(regular) / np.mean(regular) == pytest.approx(0.5, rel=0.1)


def test_bad_rates_and_caps_are_one_sentence():
    with pytest.raises(SustainError, match="positive rate"):
        build(PoissonConfig(rate=0.0), "load")
    with pytest.raises(SustainError, match="max_in_flight must be at least 1"):
        build(ConcurrencyConfig(max_in_flight=0), "load")


def test_concurrency_queues_all_and_caps_in_flight():
    profile = build(ConcurrencyConfig(max_in_flight=3), "load")
    assert profile.arrivals(5) == [0.0] * 5 and profile.max_in_flight == 3


def test_the_offline_engine_accepts_burst_only():
    require_burst(None, "engine=vllm")
    require_burst(LoadConfig(), "engine=vllm")
    with pytest.raises(SustainError, match="cannot follow load=poisson: use a server engine"):
        require_burst(PoissonConfig(), "engine=vllm")


def test_load_group_composes_with_its_schema():
    from hydra import compose, initialize_config_dir
    from hydra.errors import ConfigCompositionException

    from sustain.config import register
    from tests.conftest import ROOT

    register()
    with initialize_config_dir(config_dir=str(ROOT / "src" / "sustain" / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=["load=gamma", "load.rate=2", "load.burstiness=0.5", "load.slo.ttft_ms=500"])
        assert cfg.load.rate == 2 and cfg.load.burstiness == 0.5 and cfg.load.slo.ttft_ms == 500
        assert compose("config").load.name == "burst"
        with pytest.raises(ConfigCompositionException):
            compose("config", overrides=["load=poisson", "load.burstines=2"])

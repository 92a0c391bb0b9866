import pytest

from sustain.metrics.reference import gpt4o_estimate


def test_gpt4o_66_tokens_matches_footnote_formula():
    ref = gpt4o_estimate(66)
    assert ref.decode_latency_s == pytest.approx(66 / 113.7)
    assert ref.energy_j == pytest.approx(7.7 * (0.5 + 66 / 113.7) * 0.18 * 1000)
    assert ref.decode_latency_s == pytest.approx(0.58048, abs=1e-5)
    assert ref.energy_j == pytest.approx(1497.54, abs=0.01)


def test_gpt4o_66_tokens_matches_paper_table_3():
    ref = gpt4o_estimate(66)
    assert round(ref.decode_latency_s, 2) == 0.58
    assert ref.energy_j == pytest.approx(1499, rel=0.002)
    assert ref.quality == 0.978


def test_prefill_only_and_custom_constants():
    assert gpt4o_estimate(0).energy_j == pytest.approx(7.7 * 0.5 * 0.18 * 1000)
    ref = gpt4o_estimate(100, tokens_per_s=50, prefill_s=0.0, power_kw=1.0, pue=1.0)
    assert ref.decode_latency_s == pytest.approx(2.0)
    assert ref.energy_j == pytest.approx(2000.0)
    assert "50 tok/s" in ref.source and "1 kW" in ref.source


def test_rejects_bad_constants():
    with pytest.raises(ValueError):
        gpt4o_estimate(66, tokens_per_s=0)
    with pytest.raises(ValueError):
        gpt4o_estimate(-1)

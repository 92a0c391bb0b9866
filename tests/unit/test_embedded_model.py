"""Preparing the embedded model: once, atomically, and safely when several jobs start together."""

import threading
import time

import pytest

from sustain.errors import SustainError
from sustain.models import embedded
from sustain.models.resolve import resolve


def test_gguf_ships_with_the_package():
    path = embedded.gguf_path()
    assert path.name == embedded.GGUF_NAME and path.stat().st_size > 50_000_000


def test_concurrent_jobs_prepare_once(tmp_path, monkeypatch):
    calls = []

    def fake_dequantize(source, out):
        calls.append(out)
        time.sleep(0.3)
        (out / "config.json").write_text("{}")

    monkeypatch.setattr(embedded, "_dequantize", fake_dequantize)
    results = []
    threads = [threading.Thread(target=lambda: results.append(embedded.prepare(tmp_path))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len(set(results)) == 1 and (results[0] / "config.json").is_file()
    assert (results[0] / embedded.COMPLETE_MARK).is_file()
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == [embedded.FOLDER_NAME]


def test_a_failed_preparation_leaves_nothing_half_written(tmp_path, monkeypatch):
    def broken(source, out):
        (out / "model.safetensors").write_text("partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(embedded, "_dequantize", broken)
    with pytest.raises(RuntimeError):
        embedded.prepare(tmp_path)
    assert not any(p.is_dir() for p in tmp_path.iterdir())


def test_model_paths_that_cannot_exist_fail_with_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SustainError, match="not in the local Hugging Face cache and HF_HUB_OFFLINE=1") as err:
        resolve("nobody/no-such-model")
    assert err.value.kind == "model_not_found"
    with pytest.raises(SustainError, match="neither an existing folder nor a Hugging Face id"):
        resolve(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SustainError, match="has no config.json"):
        resolve(str(tmp_path / "empty"))

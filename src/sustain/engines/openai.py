"""`engine=openai`: any OpenAI-compatible endpoint (a hosted API, someone else's vLLM or Ollama) by URL and model.

The key is read from the environment variable `api_key_env` names, sent only in the Authorization header,
and never logged, tagged or described. Latency and quality are measured here; energy is not, since the
hardware is elsewhere: `measured_locally` is False and `energy_estimate` is None ("not measured: remote
endpoint") unless `energy: estimate` picks the paper's footnote-12 model with the constants given, which
the pipeline logs on the run as an estimate.
"""

from __future__ import annotations

import contextlib
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Optional

from sustain.engines.base import EngineConfig, EngineJob
from sustain.engines.served import ServedEngine
from sustain.engines.streaming import Endpoint
from sustain.errors import SustainError
from sustain.engines.remote_energy import RemoteEstimate

ENERGY_CHOICES = ("none", "estimate")
NOT_MEASURED = "not measured: remote endpoint"


@dataclass
class RemoteEstimateConfig:
    """Constants of the remote estimate; defaults are the paper's for GPT-4o (Jegham et al. 2025)."""

    tokens_per_s: float = 113.7
    prefill_s: float = 0.5
    power_kw: float = 7.7
    pue: float = 0.18


@dataclass
class OpenAIEngineConfig(EngineConfig):
    _target_: str = "sustain.engines.openai.OpenAIEngine"
    name: str = "openai"
    base_url: str = "http://127.0.0.1:8000/v1"
    model: Optional[str] = None  # the endpoint's model id; None: model.name
    api_key_env: Optional[str] = "OPENAI_API_KEY"  # name of the variable holding the key; None: no key
    energy: str = "none"  # none: not measured | estimate: the remote estimate below, labelled as such
    estimate: RemoteEstimateConfig = field(default_factory=RemoteEstimateConfig)
    timeout_s: float = 600.0


SCHEMAS = {"openai_schema": OpenAIEngineConfig}


class OpenAIEngine(ServedEngine):
    measured_locally = False

    def prepare(self, job: EngineJob) -> None:
        self.refuse_continuations(job)
        if self.cfg.energy not in ENERGY_CHOICES:
            raise SustainError(f"engine.energy must be one of {', '.join(ENERGY_CHOICES)}, got '{self.cfg.energy}'.")
        if self.cfg.args:
            raise SustainError("engine=openai takes no engine.args: the endpoint's server is configured by whoever runs it.")
        url = urllib.parse.urlsplit(self.cfg.base_url)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise SustainError(f"engine.base_url must be an http(s) URL ending in /v1, got '{self.cfg.base_url}'.")
        self.api_key = self._key()
        self.energy_estimate = (RemoteEstimate(self.model_name(job), **vars(self.cfg.estimate))
                                if self.cfg.energy == "estimate" else None)

    def _key(self) -> str | None:
        name = self.cfg.api_key_env
        if not name:
            return None
        key = os.environ.get(name)
        if not key:
            raise SustainError(f"engine=openai reads its API key from ${name}, which is not set: export it, or "
                               f"set engine.api_key_env=null for an endpoint without a key.", "auth")
        return key

    def model_name(self, job: EngineJob) -> str:
        return self.cfg.model or job.model.name

    @contextlib.contextmanager
    def serving(self, job: EngineJob) -> Iterator[tuple[Endpoint, float]]:
        endpoint = Endpoint(self.cfg.base_url.rstrip("/"), self.model_name(job), self.api_key)
        check_reachable(endpoint)
        yield endpoint, 0.0

    def describe(self) -> dict[str, str]:
        url = urllib.parse.urlsplit(self.cfg.base_url)
        port = f":{url.port}" if url.port else ""
        return {"engine": self.name, "engine.endpoint": f"{url.scheme}://{url.hostname}{port}{url.path}"}

    @property
    def energy_label(self) -> str:
        """What the run's energy figures are: the estimate's source, or that they are not measured."""
        estimate = getattr(self, "energy_estimate", None)
        return NOT_MEASURED if estimate is None else estimate.source


def check_reachable(endpoint: Endpoint) -> None:
    """GET /models once: an unreachable endpoint or a refused key is one sentence before any request."""
    request = urllib.request.Request(endpoint.base_url + "/models", headers=endpoint.headers())
    try:
        with urllib.request.urlopen(request, timeout=30):
            return
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise SustainError(f"The endpoint {endpoint.base_url} refused the API key (HTTP {exc.code}): check the "
                               f"key in the environment variable engine.api_key_env names.", "auth") from None
        if exc.code == 404:
            return  # some compatible servers have no /models; the first request will say more
        raise SustainError(f"The endpoint {endpoint.base_url} answered HTTP {exc.code} to GET /models: check "
                           f"engine.base_url.", "endpoint") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SustainError(f"The endpoint {endpoint.base_url} cannot be reached ({reason}): check engine.base_url "
                           f"and that its server is running.", "unreachable") from None

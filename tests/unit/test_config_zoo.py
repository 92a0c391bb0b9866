"""The paper's model zoo and experiments as Hydra configs (conf/model, conf/quantization, conf/experiment).

Every model composes and validates against the schema with the paper's Hugging Face id and GPU count;
every experiment composes, and its `hydra.sweeper.params` expands (the way Hydra's BasicSweeper does it)
to the paper's grid, each job composing with the GPU count of its model.

Hydra 1.3 refuses `-m` together with `--cfg` ("Only one of --run, --multirun, --cfg ... can be
specified"), so the sweeps are expanded here in-process instead of through the command line.
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf, open_dict

from sustain.config import ModelConfig, QuantizationConfig, SustainConfig, register
from tests.conftest import ROOT

register()

CONF = ROOT / "src" / "sustain" / "conf"
BATCH_SIZES = [2, 4, 8, 16, 32, 64, 128, 256, 512]  # Table 4's caption (section 4.3's list omits 64)
LONGEST_PROMPT = 25_500  # tokens, section 4.2

# The paper's open-weights models: conf/model stem -> (Hugging Face id, A100-40GB count).
# GPU counts from Table 4; where it lists two (Qwen2.5 0.5B, 3B, 14B), the count of Table 2's class.
PAPER = {
    "qwen2_5_0_5b": ("Qwen/Qwen2.5-0.5B-Instruct", 1),
    "qwen2_5_1_5b": ("Qwen/Qwen2.5-1.5B-Instruct", 1),
    "qwen2_5_3b": ("Qwen/Qwen2.5-3B-Instruct", 1),
    "qwen2_5_7b": ("Qwen/Qwen2.5-7B-Instruct", 1),
    "qwen2_5_14b": ("Qwen/Qwen2.5-14B-Instruct", 2),
    "qwen2_5_32b": ("Qwen/Qwen2.5-32B-Instruct", 4),
    "qwen2_5_72b": ("Qwen/Qwen2.5-72B-Instruct", 8),
    "qwen3_4b_2507": ("Qwen/Qwen3-4B-Instruct-2507", 1),
    "qwen3_8b": ("Qwen/Qwen3-8B", 1),
    "qwen3_14b": ("Qwen/Qwen3-14B", 2),
    "qwen3_32b": ("Qwen/Qwen3-32B", 4),
    "qwen3_30b_a3b_2507": ("Qwen/Qwen3-30B-A3B-Instruct-2507", 4),
    "deepseek_r1_distill_qwen_1_5b": ("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", 1),
    "deepseek_r1_distill_qwen_7b": ("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", 1),
    "deepseek_r1_distill_qwen_14b": ("deepseek-ai/DeepSeek-R1-Distill-Qwen-14B", 2),
    "deepseek_r1_0528_qwen3_8b": ("deepseek-ai/DeepSeek-R1-0528-Qwen3-8B", 1),
    "gemma3_4b": ("google/gemma-3-4b-it", 1),
    "gemma3_12b": ("google/gemma-3-12b-it", 2),
    "gemma3_27b": ("google/gemma-3-27b-it", 4),
    "mistral_nemo_2407": ("mistralai/Mistral-Nemo-Instruct-2407", 2),
    "mistral_small_24b_2501": ("mistralai/Mistral-Small-24B-Instruct-2501", 4),
    "mistral_large_2411": ("mistralai/Mistral-Large-Instruct-2411", 8),
    "falcon3_1b": ("tiiuae/Falcon3-1B-Instruct", 1),
    "falcon3_3b": ("tiiuae/Falcon3-3B-Instruct", 1),
    "falcon3_7b": ("tiiuae/Falcon3-7B-Instruct", 1),
    "falcon3_10b": ("tiiuae/Falcon3-10B-Instruct", 1),
    "phi4_reasoning": ("microsoft/Phi-4-reasoning", 2),
    "phi4_reasoning_plus": ("microsoft/Phi-4-reasoning-plus", 2),
    "llama4_scout_17b_16e": ("meta-llama/Llama-4-Scout-17B-16E-Instruct", 8),
}
EMBEDDED = "smollm2_135m"
FAMILY = {"smollm2_360m", "smollm2_1_7b"}  # the embedded model's siblings, for experiment=agent_sizes
QWEN3_HYBRID = {"qwen3_8b", "qwen3_14b", "qwen3_32b"}
SHORT_CONTEXT = {"falcon3_1b": 8192}  # native context below the paper's longest prompt (documented in its YAML)

TABLE3 = ["qwen3_32b", "qwen3_14b", "qwen3_30b_a3b_2507", "deepseek_r1_0528_qwen3_8b",
          "deepseek_r1_distill_qwen_14b", "mistral_large_2411", "mistral_nemo_2407", "falcon3_10b",
          "falcon3_7b", "phi4_reasoning"]
QWEN25 = ["qwen2_5_0_5b", "qwen2_5_1_5b", "qwen2_5_3b", "qwen2_5_7b", "qwen2_5_14b", "qwen2_5_32b",
          "qwen2_5_72b"]
QUANTIZED = {  # conf/quantization name -> (pre-quantized checkpoint, vLLM method)
    "none": (None, None),
    "awq": ("Qwen/Qwen2.5-7B-Instruct-AWQ", None),
    "gptq_int4": ("Qwen/Qwen2.5-7B-Instruct-GPTQ-Int4", None),
    "gptq_int8": ("Qwen/Qwen2.5-7B-Instruct-GPTQ-Int8", None),
    "fp8": (None, "fp8"),
}

# experiment -> (swept keys -> expected values, job count)
GRIDS = {
    "table3": ({"model": TABLE3, "batch_size": BATCH_SIZES}, 90),
    "qwen25_scaling": ({"model": QWEN25, "batch_size": BATCH_SIZES}, 63),
    "qwen25_7b_compressed": ({"quantization": ["none", "awq", "gptq_int4", "gptq_int8"],
                              "batch_size": BATCH_SIZES}, 36),
    "qwen25_7b_distilled": ({"model": ["deepseek_r1_distill_qwen_1_5b", "deepseek_r1_distill_qwen_7b"],
                             "batch_size": BATCH_SIZES}, 18),
    "qwen25_3b_gpus": ({"gpus": [1, 2], "batch_size": BATCH_SIZES}, 18),
    "paper_zoo": ({"model": list(PAPER), "batch_size": BATCH_SIZES}, 261),
    "smoke": ({"batch_size": [2, 4]}, 2),
    "local_4bit": ({"+local_4bit": ["vllm_bf16", "llamacpp_q4_1"]}, 2),
    "small_vs_large": ({"model": ["qwen2_5_1_5b", "qwen2_5_72b"]}, 2),
    "agent_sessions": ({"load.max_in_flight": [1, 4, 8], "engine.args.enable_prefix_caching": [True, False]}, 6),
    "agent_sizes": ({"model": ["smollm2_135m", "smollm2_360m", "smollm2_1_7b"]}, 3),
    "agent_reasoning": ({"model.chat_template_kwargs.enable_thinking": [True, False]}, 2),
}


def _experiment_declared() -> bool:
    """Whether conf/config.yaml lists the experiment group (then `experiment=X` works without a `+`)."""
    defaults = OmegaConf.to_container(OmegaConf.load(CONF / "config.yaml")).get("defaults", [])
    keys = [next(iter(d)) if isinstance(d, dict) else d for d in defaults]
    return any(k in ("experiment", "optional experiment") for k in keys)


EXP = "experiment" if _experiment_declared() else "+experiment"


@pytest.fixture(scope="module")
def hydra_conf():
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        yield


def load(*overrides):
    return compose(config_name="config", overrides=list(overrides), return_hydra_config=True)


def typed(cfg) -> SustainConfig:
    """The job config as the job sees it (schema-checked dataclasses), `${hydra:...}` still resolvable."""
    HydraConfig.instance().set_config(cfg)
    cfg = cfg.copy()
    with open_dict(cfg):
        del cfg["hydra"]
    return OmegaConf.to_object(cfg)


def sweep_jobs(experiment: str, *extra: str) -> list[list[str]]:
    """The jobs `python -m sustain -m experiment=X ...` launches: BasicSweeper's own expansion."""
    args = [f"{EXP}={experiment}", *extra]
    cfg = load(*args)
    params = [f"{k}={v}" for k, v in OmegaConf.to_container(cfg.hydra.sweeper.params).items()]
    overrides = OverridesParser.create().parse_overrides(params + args)
    [batch] = BasicSweeper.split_arguments(overrides, max_batch_size=None)
    return batch


def job_values(job: list[str]) -> dict[str, str]:
    return dict(o.split("=", 1) for o in job)


@functools.lru_cache(maxsize=None)
def job_config(job: tuple[str, ...]) -> SustainConfig:
    """One sweep job composed as Hydra composes it (cached: a compose takes ~0.2 s)."""
    return typed(load(*job))


def representative(jobs: list[list[str]]) -> list[list[str]]:
    """Every job of the first batch size's column and of the first other-key combination: each model,
    quantization or GPU count once, each batch size once (composing all 261 zoo jobs takes a minute)."""
    def rest(job):
        return tuple(o for o in job if not o.startswith("batch_size="))
    first = rest(jobs[0])
    seen, picked = set(), []
    for job in jobs:
        if rest(job) not in seen or rest(job) == first:
            seen.add(rest(job))
            picked.append(job)
    return picked


# ---------------------------------------------------------------- models


def test_zoo_holds_the_papers_29_models_and_the_embedded_one():
    stems = {p.stem for p in (CONF / "model").glob("*.yaml")}
    assert stems - {EMBEDDED} - FAMILY == set(PAPER)
    assert len(PAPER) == 29  # the paper says 28; its own lists (section 4.1, Table 4) name 29
    assert len({hf for hf, _ in PAPER.values()}) == 29


@pytest.mark.parametrize("stem", sorted(PAPER))
def test_model_composes_and_matches_the_paper(hydra_conf, stem):
    cfg = load(f"model={stem}")
    model = OmegaConf.to_object(cfg.model)
    assert isinstance(model, ModelConfig)
    hf_id, gpus = PAPER[stem]
    assert model.name == stem
    assert model.path == hf_id
    assert re.fullmatch(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*", model.path)
    assert model.paper_gpus == gpus and model.paper_gpus in (1, 2, 4, 8)
    assert model.family and model.params_b and model.params_b > 0
    assert model.dtype == "auto"
    # bf16 weights fit in the paper's GPUs (vLLM's default 0.9 of 40 GB each)
    assert model.params_b * 2 < model.paper_gpus * 40 * 0.9
    # the paper's longest prompt plus the answer, except where the model's native context is shorter
    if stem in SHORT_CONTEXT:
        assert model.max_model_len == SHORT_CONTEXT[stem]
    else:
        assert LONGEST_PROMPT + cfg.task.max_tokens <= model.max_model_len <= 32768
    assert model.trust_remote_code is False
    if stem in QWEN3_HYBRID:
        assert model.chat_template_kwargs == {"enable_thinking": False}
    else:
        assert model.chat_template_kwargs == {}
    # the whole job config validates against the schema
    job = typed(cfg)
    assert isinstance(job, SustainConfig) and job.model.path == hf_id


def test_embedded_model_is_unchanged(hydra_conf):
    model = OmegaConf.to_object(load().model)
    assert model.name == EMBEDDED and model.path == "embedded"


def test_model_yaml_names_its_gpu_source():
    for stem in PAPER:
        text = (CONF / "model" / f"{stem}.yaml").read_text()
        assert re.search(r"^# paper_gpus: \d.*Table [24]", text, re.M), stem


# ---------------------------------------------------------------- quantization


@pytest.mark.parametrize("name", sorted(QUANTIZED))
def test_quantization_options(hydra_conf, name):
    cfg = load("model=qwen2_5_7b", f"quantization={name}")
    quant = OmegaConf.to_object(cfg.quantization)
    assert isinstance(quant, QuantizationConfig)
    assert quant.name == name
    assert (quant.model_path, quant.method) == QUANTIZED[name]
    job = typed(cfg)
    assert job.run_name == f"qwen2_5_7b-{name}-bs8-g1-hallucination-json_schema"


# ---------------------------------------------------------------- experiments


def test_every_experiment_file_is_checked():
    assert {p.stem for p in (CONF / "experiment").glob("*.yaml")} == set(GRIDS)


@pytest.mark.parametrize("experiment", sorted(GRIDS))
def test_experiment_composes(hydra_conf, experiment):
    cfg = load(f"{EXP}={experiment}")
    assert isinstance(typed(cfg), SustainConfig)


@pytest.mark.parametrize("experiment", sorted(GRIDS))
def test_sweep_expands_to_the_papers_grid(hydra_conf, experiment):
    expected, count = GRIDS[experiment]
    jobs = [job_values(j) for j in sweep_jobs(experiment)]
    assert len(jobs) == count
    for key, values in expected.items():
        assert {j[key] for j in jobs} == {str(v) for v in values}, key
    combos = {tuple(j[k] for k in expected) for j in jobs}
    assert len(combos) == count  # a full cartesian product, no duplicates


@pytest.mark.parametrize("experiment", ["table3", "qwen25_scaling", "qwen25_7b_distilled", "paper_zoo"])
def test_each_job_runs_on_its_models_paper_gpus(hydra_conf, experiment):
    jobs = sweep_jobs(experiment)
    for job in jobs if experiment == "table3" else representative(jobs):
        values = job_values(job)
        cfg = job_config(tuple(job))
        assert cfg.model.name == values["model"]
        assert cfg.batch_size == int(values["batch_size"])
        assert cfg.gpus == PAPER[values["model"]][1] == cfg.model.paper_gpus, job
        assert cfg.run_name == f"{values['model']}-none-bs{values['batch_size']}-g{cfg.gpus}-hallucination"


def test_table3_gpus_per_model(hydra_conf):
    gpus = {}
    for job in sweep_jobs("table3"):
        cfg = job_config(tuple(job))
        gpus.setdefault(cfg.model.name, set()).add(cfg.gpus)
    assert gpus == {"qwen3_32b": {4}, "qwen3_14b": {2}, "qwen3_30b_a3b_2507": {4},
                    "deepseek_r1_0528_qwen3_8b": {1}, "deepseek_r1_distill_qwen_14b": {2},
                    "mistral_large_2411": {8}, "mistral_nemo_2407": {2}, "falcon3_10b": {1},
                    "falcon3_7b": {1}, "phi4_reasoning": {2}}


def test_gpus_can_still_be_overridden(hydra_conf):
    cfg = typed(load(f"{EXP}=table3", "model=falcon3_7b", "gpus=2"))
    assert cfg.gpus == 2 and cfg.model.paper_gpus == 1


def test_compressed_jobs_swap_in_the_prequantized_checkpoints(hydra_conf):
    paths = {}
    for job in representative(sweep_jobs("qwen25_7b_compressed")):
        cfg = job_config(tuple(job))
        assert cfg.model.name == "qwen2_5_7b" and cfg.gpus == 1
        paths[cfg.quantization.name] = cfg.quantization.model_path or cfg.model.path
    assert paths == {"none": "Qwen/Qwen2.5-7B-Instruct", "awq": "Qwen/Qwen2.5-7B-Instruct-AWQ",
                     "gptq_int4": "Qwen/Qwen2.5-7B-Instruct-GPTQ-Int4",
                     "gptq_int8": "Qwen/Qwen2.5-7B-Instruct-GPTQ-Int8"}


def test_qwen25_3b_gpus_jobs(hydra_conf):
    pairs = set()
    for job in sweep_jobs("qwen25_3b_gpus"):
        cfg = job_config(tuple(job))
        assert cfg.model.name == "qwen2_5_3b"
        pairs.add((cfg.gpus, cfg.batch_size))
    assert pairs == {(g, b) for g in (1, 2) for b in BATCH_SIZES}


@pytest.mark.parametrize("experiment", sorted(GRIDS))
def test_run_names_tell_the_jobs_of_a_sweep_apart(hydra_conf, experiment):
    """Hydra's sweep subdirs and MLflow's run names come from run_name: it must name every swept key."""
    template = load(f"{EXP}={experiment}")._get_node("run_name")._value()
    fields = {"model": "${model.name}", "quantization": "${quantization.name}",
              "batch_size": "${batch_size}", "gpus": "${gpus}",
              "+local_4bit": "${quantization.name}",  # each row of local_4bit has its own quantization
              "load.max_in_flight": "${load.max_in_flight}",
              "engine.args.enable_prefix_caching": "${engine.args.enable_prefix_caching}",
              "model.chat_template_kwargs.enable_thinking": "${model.chat_template_kwargs.enable_thinking}"}
    for key in GRIDS[experiment][0]:
        assert fields[key] in template, (key, template)
    jobs = sweep_jobs(experiment)
    names = [job_config(tuple(job)).run_name for job in (jobs if experiment == "table3" else representative(jobs))]
    assert len(set(names)) == len(names)


def test_local_4bit_pairs_each_engine_with_its_weights(hydra_conf):
    rows = {job_config(tuple(job)).run_name: job_config(tuple(job)) for job in sweep_jobs("local_4bit")}
    assert {(c.engine.name, c.quantization.name) for c in rows.values()} == {("vllm", "none"),
                                                                             ("llamacpp", "q4_1_gguf")}
    assert len({(c.task.limit, c.task.max_tokens, c.batch_size, c.model.name) for c in rows.values()}) == 1


def test_small_vs_large_runs_lm_eval_on_one_family(hydra_conf):
    jobs = [job_config(tuple(job)) for job in sweep_jobs("small_vs_large")]
    assert {(c.model.name, c.gpus) for c in jobs} == {("qwen2_5_1_5b", 1), ("qwen2_5_72b", 8)}
    assert {c.model.family for c in jobs} == {"Qwen2.5"}
    for cfg in jobs:
        assert cfg.task._target_ == "sustain.tasks.lm_eval.LmEvalTask" and cfg.task.tasks == ["gsm8k"]


def test_smoke_is_small(hydra_conf):
    for job in sweep_jobs("smoke"):
        cfg = job_config(tuple(job))
        assert cfg.model.name == EMBEDDED and cfg.model.path == "embedded"
        assert cfg.task.limit == 12 and cfg.task.max_tokens == 48 and cfg.gpus == 1


def test_a_command_line_override_narrows_the_sweep(hydra_conf):
    jobs = [job_values(j) for j in sweep_jobs("table3", "model=qwen3_14b")]
    assert len(jobs) == 9 and {j["model"] for j in jobs} == {"qwen3_14b"}


# ---------------------------------------------------------------- the command line


def test_config_yaml_lets_experiment_be_selected_after_self():
    """`python -m sustain -m experiment=X` needs `- experiment: null` in config.yaml's defaults, after
    `_self_`: before it, config.yaml's own `gpus: 1` / `batch_size: 8` would override the experiment."""
    defaults = OmegaConf.to_container(OmegaConf.load(CONF / "config.yaml"))["defaults"]
    keys = [next(iter(d)) if isinstance(d, dict) else d for d in defaults]
    assert "experiment" in keys or "optional experiment" in keys, \
        "add `- experiment: null` after `- _self_` in conf/config.yaml's defaults"
    exp = keys.index("experiment" if "experiment" in keys else "optional experiment")
    assert exp > keys.index("_self_")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sustain", *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


def test_cli_prints_the_smoke_experiment():
    proc = _cli("experiment=smoke", "--cfg", "job")
    assert proc.returncode == 0, proc.stderr[-2000:]
    cfg = OmegaConf.create(proc.stdout)
    assert cfg.model.name == EMBEDDED and cfg.task.limit == 12 and cfg.task.max_tokens == 48


def test_cli_resolves_the_models_gpus():
    proc = _cli("experiment=table3", "model=mistral_large_2411", "--cfg", "job", "--resolve")
    assert proc.returncode == 0, proc.stderr[-2000:]
    cfg = OmegaConf.create(proc.stdout)
    assert cfg.gpus == 8 and cfg.run_name == "mistral_large_2411-none-bs8-g8-hallucination"

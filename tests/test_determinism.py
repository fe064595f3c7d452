"""The record of the arithmetic a run used (coldstart.determinism)."""

from __future__ import annotations

import os

from coldstart.determinism import _cpuinfo, describe_environment, run_environment

CPUINFO = """processor\t: 0
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw amx_tile
processor\t: 1
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw amx_tile
"""


def test_the_cpu_and_its_vector_units_are_read_from_cpuinfo(tmp_path) -> None:
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO)
    assert _cpuinfo(path) == ("Intel(R) Xeon(R) Processor", ["avx2", "fma", "avx512f", "amx_tile"])
    model, flags = _cpuinfo(tmp_path / "absent")  # not Linux: what platform knows, no flags
    assert model and flags == []


def test_the_record_names_the_settings_that_change_the_sums(monkeypatch) -> None:
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    environment = run_environment()
    assert environment["settings"]["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert "TF_ENABLE_ONEDNN_OPTS" not in environment["settings"]  # unset: not recorded
    assert environment["cores"] >= 1 and environment["versions"]["python"]
    assert "numpy" in environment["versions"]


def test_the_readers_line_names_cpu_best_unit_cores_and_versions() -> None:
    line = describe_environment(
        {
            "cpu": "AMD EPYC 7B13",
            "vector_extensions": ["avx2", "fma"],
            "cores": 1,
            "settings": {"ONEDNN_MAX_CPU_ISA": "AVX2"},
            "versions": {"python": "3.11.7", "tensorflow": "2.21.0", "scipy": "1.17.1"},
        }
    )
    assert line == (
        "`AMD EPYC 7B13` (AVX2), 1 core, ONEDNN_MAX_CPU_ISA=AVX2; Python 3.11.7, TensorFlow 2.21.0"
    )
    assert describe_environment({}) == "`an unrecorded CPU`, cores unknown"


def test_the_instruction_set_cap_is_set_unless_the_user_set_one(monkeypatch) -> None:
    from coldstart.determinism import ISA_VARIABLE, cap_instruction_set

    # set, then removed: monkeypatch then restores the variable as it was, set or not
    monkeypatch.setenv(ISA_VARIABLE, "unset below")
    monkeypatch.delenv(ISA_VARIABLE)
    assert cap_instruction_set(None) is None and ISA_VARIABLE not in os.environ
    assert cap_instruction_set("avx2") == "AVX2"
    monkeypatch.setenv(ISA_VARIABLE, "AVX512_CORE")  # the environment wins
    assert cap_instruction_set("AVX2") == "AVX512_CORE"

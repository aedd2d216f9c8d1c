"""What this machine multiplies fast: bfloat16 matrix products on the CPU.

``model.output_bfloat16: auto`` asks for the bfloat16 output layer only where it pays.
CPUs with AVX-512 BF16 or AMX have bfloat16 dot-product instructions, and oneDNN uses
them; elsewhere TensorFlow emulates bfloat16 and the layer gets slower.  It applies to
training only and the weights stay float32, so inference and exports are the same
wherever the model was trained.
"""

from __future__ import annotations

from pathlib import Path

#: /proc/cpuinfo flags of the bfloat16 dot-product instructions oneDNN uses.
BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (or the given text); empty where
    there is no such file (macOS, Windows)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return set()
    for line in cpuinfo.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "flags":
            return set(value.split())
    return set()


def fast_bfloat16_matmul(cpuinfo: str | None = None, has_gpu: bool | None = None) -> bool:
    """Whether bfloat16 matmuls beat float32 here: a CPU with AVX-512 BF16 or AMX and
    no GPU (GPUs have ``--mixed-precision`` instead)."""
    if has_gpu is None:
        import tensorflow as tf

        has_gpu = bool(tf.config.list_physical_devices("GPU"))
    return not has_gpu and any(flag in cpu_flags(cpuinfo) for flag in BFLOAT16_FLAGS)


def resolve_bfloat16(setting: bool | str) -> bool:
    """``model.output_bfloat16`` as a bool: ``auto`` becomes :func:`fast_bfloat16_matmul`."""
    return fast_bfloat16_matmul() if setting == "auto" else bool(setting)

import pytest

from translator.config import ConfigError, ModelConfig
from translator.hardware import cpu_flags, fast_bfloat16_matmul, resolve_bfloat16
from translator.model import build_model

# Abridged /proc/cpuinfo of the two machines this project is measured on.
AVX512_BF16 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_bf16 avx512_vnni
"""
AVX2 = """processor\t: 0
model name\t: Intel(R) Xeon(R)
flags\t\t: fpu sse2 avx avx2 fma
"""


def test_cpu_flags_are_read_from_the_flags_line():
    assert {"avx2", "avx512_bf16"} <= cpu_flags(AVX512_BF16)
    assert "avx512_bf16" not in cpu_flags(AVX2)
    assert cpu_flags("no flags here") == set()


def test_bfloat16_is_fast_only_with_its_instructions_and_no_gpu():
    assert fast_bfloat16_matmul(AVX512_BF16, has_gpu=False)
    assert fast_bfloat16_matmul("flags : avx2 amx_bf16 amx_tile", has_gpu=False)
    assert not fast_bfloat16_matmul(AVX2, has_gpu=False)
    assert not fast_bfloat16_matmul(AVX512_BF16, has_gpu=True)


def test_auto_follows_this_machine_and_explicit_settings_win():
    assert resolve_bfloat16("auto") == fast_bfloat16_matmul()
    assert resolve_bfloat16(True) and not resolve_bfloat16(False)
    sizes = {"source_vocab_size": 9, "target_vocab_size": 9, "embedding_dim": 8, "units": 8}
    auto = build_model(ModelConfig(output_bfloat16="auto", **sizes))
    assert auto.decoder.output_bfloat16 == fast_bfloat16_matmul()
    tied = build_model(ModelConfig(output_bfloat16="auto", tie_embeddings=True, **sizes))
    assert not tied.decoder.output_bfloat16  # the tied layer has no bfloat16 form
    with pytest.raises(ConfigError, match="true, false or auto"):
        ModelConfig(output_bfloat16="yes").validate()

#!/usr/bin/env python3
# Makes SmolLM2-135M requantised by llama.cpp into Q4_K_M, Q6_K and Q5_1
# (models/SmolLM2-135M-Instruct.<TYPE>.requant.gguf, not committed: /models/
# is ignored) for bench/inference/kquant_bench.py.
#
# The only SmolLM2 file here is the shipped Q4_1 quant; requantising it with
# llama.cpp directly needs --allow-requantize. Instead the gguf package
# dequantises every tensor to F32 and writes an F32 GGUF with the same
# metadata (general.file_type = 0), and llama.cpp's own quantiser
# (llama_cpp.llama_model_quantize, the code behind llama-quantize) makes each
# type from that. The weights are the Q4_1 model's values (the original F16
# weights are not here), so these files test fidelity to llama.cpp on the
# same file and speed, not the quality of a Q4_K_M made from F16.
#
# Command: .venv-peers/bin/python bench/inference/make_kquant_models.py
# Functions: f32_gguf (dequantise + write), quantize (llama_model_quantize),
# make_all (returns {type name: path}, skipping files already made; the F32
# intermediate is removed afterwards).
import ctypes
import os
import sys

import numpy as np
import llama_cpp
from gguf import GGUFReader, GGUFValueType, GGUFWriter, quants

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
SRC = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
F32 = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.F32.from-Q4_1.gguf")
TARGETS = {"Q4_K_M": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M, "Q6_K": llama_cpp.LLAMA_FTYPE_MOSTLY_Q6_K,
           "Q5_1": llama_cpp.LLAMA_FTYPE_MOSTLY_Q5_1}


def out_path(name):
    return os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.%s.requant.gguf" % name)


def f32_gguf(src=SRC, dst=F32):
    r = GGUFReader(src)
    arch = r.fields["general.architecture"].contents()
    w = GGUFWriter(dst, arch)
    for key, f in r.fields.items():
        if key.startswith("GGUF.") or key in ("general.architecture", "general.file_type"):
            continue
        vtype = f.types[0]
        if vtype == GGUFValueType.ARRAY:
            w.add_key_value(key, f.contents(), vtype, sub_type=f.types[-1])
        else:
            w.add_key_value(key, f.contents(), vtype)
    w.add_file_type(0)  # ALL_F32
    for t in r.tensors:
        deq = quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        shape = [int(d) for d in reversed(t.shape)]  # numpy order: rows first
        w.add_tensor(t.name, deq.reshape(shape))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def quantize(src, dst, ftype, nthread=2):
    p = llama_cpp.llama_model_quantize_default_params()
    p.ftype = ftype
    p.nthread = nthread
    rc = llama_cpp.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(p))
    if rc != 0:
        sys.exit("llama_model_quantize %s -> %s failed: %d" % (src, dst, rc))


def make_all():
    if not all(os.path.exists(out_path(n)) for n in TARGETS) and not os.path.exists(F32):
        f32_gguf()
    out = {}
    for name, ftype in TARGETS.items():
        if not os.path.exists(out_path(name)):
            quantize(F32, out_path(name), ftype)
        out[name] = out_path(name)
    if os.path.exists(F32):
        os.remove(F32)  # 540 MB, made again when a target is missing
    return out


if __name__ == "__main__":
    for name, path in make_all().items():
        print(name, path, os.path.getsize(path))

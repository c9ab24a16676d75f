#!/usr/bin/env python3
"""Rounds a model folder's float32 weights through float16 so it travels in half the bytes.

  pack SRC_DIR DST_DIR   : copies the folder, storing model.safetensors as float16
  unpack SRC_DIR DST_DIR : copies it back with float32 weights (the float16 values, widened)

Used to carry all-MiniLM-L6-v2 (91 MB) to a remote GPU machine whose upload limit is 64 MiB
(scripts/gpu_bench.sh). Both sentence-transformers and densify then load the same unpacked
weights, so their parity figures stay exact comparisons; only the weights differ from the
original by float16 rounding (relative 5e-4).
"""
import json
import shutil
import sys

import numpy as np
from safetensors.numpy import load_file, save_file
from safetensors import safe_open


def main():
    cmd, src, dst = sys.argv[1:4]
    shutil.copytree(src, dst, dirs_exist_ok=True, ignore=shutil.ignore_patterns("model.safetensors", "*.bin", "*.onnx", "*.h5", "onnx", "openvino"))
    with safe_open(f"{src}/model.safetensors", "np") as f:
        metadata = f.metadata()
    tensors = load_file(f"{src}/model.safetensors")
    want = {"pack": np.float16, "unpack": np.float32}[cmd]
    out = {k: (v.astype(want) if v.dtype.kind == "f" else v) for k, v in tensors.items()}
    save_file(out, f"{dst}/model.safetensors", metadata=metadata)
    print(json.dumps({"tensors": len(out), "dtype": np.dtype(want).name, "to": dst}))


if __name__ == "__main__":
    main()

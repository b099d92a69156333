"""The llama.cpp half of check_llamacpp_control_vector.py; runs in the llama-cpp-python environment (no Desktop SAE,
no torch). Reads one JSON request on stdin, writes one JSON answer on stdout.

A control vector is loaded the way llama.cpp's ``common_control_vector_load`` does it (common/common.cpp), ported
line for line onto llama.cpp's own GGUF parser (``gguf_init_from_file`` and friends in libggml-base, through
ctypes): tensors ``direction.N`` with N >= 1, 1-D float32, one width; data laid out from layer 1; each tensor x
the scale, summed. It is then applied with ``llama_set_adapter_cvec`` over layers 1..n_layer, the range
``--control-vector`` uses when no ``--control-vector-layer-range`` is given.

Request: {"model": path, "n_threads": int, "tasks": [{"id": str, "cvec": path|null, "scale": float,
"shift": int, "prompt_ids": [int], "kind": "logits"|"generate", "max_tokens": int, "temperature": float,
"seed": int, "stop_ids": [int], "logits_out": path}]}. ``shift`` moves the loaded vector by that many layers
(the wrong-mapping control). Answer: {"llama_cpp_version": str, "n_layer": int, "results": [{"id",
"answer_ids"} or {"id", "logits_out"}]}.
"""

from __future__ import annotations

import ctypes
import json
import sys
from pathlib import Path

import llama_cpp
import numpy as np

GGML_TYPE_F32 = 0


class _GGUFInitParams(ctypes.Structure):
    _fields_ = [("no_alloc", ctypes.c_bool), ("ctx", ctypes.POINTER(ctypes.c_void_p))]


def _ggml_base() -> ctypes.CDLL:
    lib_dir = Path(llama_cpp.__file__).parent / "lib"
    found = sorted(lib_dir.glob("libggml-base.*"))
    if not found:
        raise SystemExit(f"libggml-base not found in {lib_dir}")
    lib = ctypes.CDLL(str(found[0]))
    vp, i64, cp = ctypes.c_void_p, ctypes.c_int64, ctypes.c_char_p
    sigs = {"gguf_init_from_file": ([cp, _GGUFInitParams], vp), "gguf_get_n_tensors": ([vp], i64),
            "gguf_get_tensor_name": ([vp, i64], cp), "gguf_get_tensor_type": ([vp, i64], ctypes.c_int),
            "ggml_get_tensor": ([vp, cp], vp), "ggml_n_dims": ([vp], ctypes.c_int), "ggml_nelements": ([vp], i64),
            "ggml_get_data_f32": ([vp], ctypes.POINTER(ctypes.c_float)), "gguf_free": ([vp], None),
            "ggml_free": ([vp], None)}
    for name, (args, res) in sigs.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, res
    return lib


def load_control_vector(lib: ctypes.CDLL, fname: str, strength: float) -> tuple[int, np.ndarray]:
    """(n_embd, data from layer 1) as common_control_vector_load_one builds them; n_embd -1 on a refused file."""
    ctx = ctypes.c_void_p()
    g = lib.gguf_init_from_file(fname.encode(), _GGUFInitParams(False, ctypes.pointer(ctx)))
    if not g:
        return -1, np.zeros(0, np.float32)
    n_embd, data = -1, np.zeros(0, np.float32)
    try:
        for i in range(lib.gguf_get_n_tensors(g)):
            name = lib.gguf_get_tensor_name(g, i).decode()
            head, dot, tail = name.partition(".")
            layer = int(tail) if dot and head == "direction" and tail.lstrip("-").isdigit() else -1
            t = lib.ggml_get_tensor(ctx, name.encode())
            if layer <= 0 or lib.gguf_get_tensor_type(g, i) != GGML_TYPE_F32 or lib.ggml_n_dims(t) != 1:
                return -1, np.zeros(0, np.float32)
            n = int(lib.ggml_nelements(t))
            if n_embd not in (-1, n):
                return -1, np.zeros(0, np.float32)
            n_embd = n
            if data.size < n * layer:
                data = np.concatenate([data, np.zeros(n * layer - data.size, np.float32)])
            src = np.ctypeslib.as_array(lib.ggml_get_data_f32(t), shape=(n,))
            data[n * (layer - 1):n * layer] += src * np.float32(strength)
    finally:
        lib.gguf_free(g)
        lib.ggml_free(ctx)
    return n_embd, data


def main() -> None:
    req = json.load(sys.stdin)
    lib = _ggml_base()
    llm = llama_cpp.Llama(model_path=req["model"], n_ctx=1024, n_threads=req.get("n_threads", 2), verbose=False,
                          seed=0)
    ctx = llm._ctx.ctx
    n_layer = llama_cpp.llama_model_n_layer(llm._model.model)
    n_vocab = llm.n_vocab()
    eos = llm.token_eos()
    out = []
    for task in req["tasks"]:
        if task.get("cvec"):
            n_embd, data = load_control_vector(lib, task["cvec"], float(task.get("scale", 1.0)))
            if n_embd < 0:
                raise SystemExit(f"llama.cpp's loader refused {task['cvec']}")
            shift = int(task.get("shift", 0)) * n_embd
            if shift > 0:
                data = np.concatenate([np.zeros(shift, np.float32), data])
            elif shift < 0:
                data = data[-shift:]
            # llama_set_adapter_cvec overwrites only the layers the buffer covers and leaves the others as an
            # earlier call set them: cover every layer, so no vector of an earlier task stays on
            full = (n_layer - 1) * n_embd
            if data.size > full:
                raise SystemExit(f"{task['cvec']} steers a layer this {n_layer}-layer model does not have")
            buf = np.zeros(full, np.float32)
            buf[:data.size] = data
            err = llama_cpp.llama_set_adapter_cvec(ctx, buf.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                                   buf.size, n_embd, 1, n_layer)
        else:
            err = llama_cpp.llama_set_adapter_cvec(ctx, None, 0, 0, -1, -1)
        if err:
            raise SystemExit(f"llama_set_adapter_cvec failed ({err})")
        llm.reset()
        ids = [int(t) for t in task["prompt_ids"]]
        if task["kind"] == "logits":
            llm.eval(ids)
            logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, -1), shape=(n_vocab,)).copy()
            np.save(task["logits_out"], logits.astype(np.float32))
            out.append({"id": task["id"], "logits_out": task["logits_out"]})
            continue
        llm.set_seed(int(task.get("seed", 0)))
        answer: list[int] = []
        stop = {int(t) for t in task.get("stop_ids", [])} | {eos}
        temp = float(task.get("temperature", 0.0))
        for tok in llm.generate(ids, temp=temp, top_k=0, top_p=1.0, min_p=0.0, typical_p=1.0, repeat_penalty=1.0,
                                reset=True):
            if tok in stop or len(answer) >= int(task["max_tokens"]):
                break
            answer.append(int(tok))
        out.append({"id": task["id"], "answer_ids": answer})
    json.dump({"llama_cpp_version": llama_cpp.__version__, "n_layer": int(n_layer), "results": out}, sys.stdout)


if __name__ == "__main__":
    main()

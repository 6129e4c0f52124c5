"""A LeNet-5 trained in PyTorch, brought into minicompress, compressed, and run in ONNX Runtime.

    python benchmarks/pytorch_lenet5.py [--quick] [--epochs N] [--keep DIR] [--json PATH]

Runs only where torch is installed (``pip install torch``) together with the ``[onnx]`` extra;
otherwise it prints what is missing and exits 0. Steps, each with its accuracy on the 2,000
mnist10k test digits:

1. **PyTorch**: the zoo's LeNet-5 twin (``nn.Sequential``, as in ``benchmarks/training.py``)
   trained on mnist10k's 8,000 training digits (Adam lr 1e-3, batch 64, seed 0);
2. its ``state_dict()`` saved with ``safetensors.torch.save_file`` (no pickle);
3. **imported** into minicompress (``import_safetensors``): the same predictions;
4. **pruned** to 80 % global magnitude sparsity, then fine-tuned one epoch (masks kept);
5. **int8 static PTQ** (per-channel weights, uint8 activations, 4 x 256 calibration digits),
   and its integer model on minicompress's kernels;
6. **exported** to ONNX as QDQ and as integer operators, **run in ONNX Runtime**.
"""

from __future__ import annotations

import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import machine, parser, table, torch_or_none, write_json  # noqa: E402
from training import torch_model  # noqa: E402

from minicompress.compress.pruning import global_unstructured, prunable_parameters  # noqa: E402
from minicompress.compress.quantization import static_ptq, to_integer  # noqa: E402
from minicompress.data import load_mnist10k  # noqa: E402
from minicompress.optim import Adam  # noqa: E402
from minicompress.training import evaluate, fit, predict  # noqa: E402


def train_in_pytorch(torch, x, y, epochs, seed=0):
    torch.manual_seed(seed)
    net = torch_model(torch, "lenet5")
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    xt, yt = torch.from_numpy(np.array(x)), torch.from_numpy(np.array(y, dtype=np.int64))  # writable copies
    loss_fn = torch.nn.CrossEntropyLoss()
    net.train()
    for epoch in range(epochs):
        perm = torch.from_numpy(np.random.default_rng(seed + epoch).permutation(len(x)))
        for i in range(0, len(x), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            loss_fn(net(xt[idx]), yt[idx]).backward()
            opt.step()
    return net.eval()


def main(argv=None):
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=None, help="PyTorch training epochs (default 8, 2 with --quick)")
    p.add_argument("--keep", metavar="DIR", default=None, help="keep the .safetensors and .onnx files in DIR")
    args = p.parse_args(argv)
    torch = torch_or_none()
    missing = [m for m in ("safetensors", "onnx", "onnxruntime") if _missing(m)]
    if torch is None or missing:
        print(f"skipped: needs {' and '.join((['torch'] if torch is None else []) + missing)} "
              "(pip install torch \"minicompress[onnx]\")")
        return 0
    torch.set_num_threads(1)
    epochs = args.epochs or (2 if args.quick else 8)
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        return run(torch, epochs, args.keep, args.json)
    with tempfile.TemporaryDirectory(prefix="minicompress-pytorch-") as folder:
        return run(torch, epochs, folder, args.json)


def run(torch, epochs, folder, json_path):
    from safetensors.torch import save_file

    from minicompress.interop import export_onnx, import_safetensors, run_onnx

    x_train, y_train, x_test, y_test = load_mnist10k()
    rows = []

    def step(name, accuracy, agreement=None, compared_with=None, nbytes=None):
        rows.append({"step": name, "accuracy": float(accuracy), "prediction_agreement": agreement,
                     "compared_with": compared_with, "file_bytes": nbytes})

    net = train_in_pytorch(torch, x_train, y_train, epochs)
    with torch.no_grad():
        torch_logits = net(torch.from_numpy(np.array(x_test))).numpy()
    step(f"PyTorch LeNet-5 ({epochs} epochs)", (torch_logits.argmax(1) == y_test).mean())

    weights = os.path.join(folder, "lenet5.safetensors")
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, weights)
    model = import_safetensors(weights, "lenet5")
    ours = predict(model, x_test)
    step("imported into minicompress", evaluate(model, x_test, y_test)["accuracy"],
         float((ours.argmax(1) == torch_logits.argmax(1)).mean()), "PyTorch", os.path.getsize(weights))
    max_diff = float(np.abs(ours - torch_logits).max() / np.abs(torch_logits).max())

    opt = Adam(model.parameters(), lr=1e-3)
    global_unstructured(prunable_parameters(model), 0.8, optimizer=opt)
    step("pruned 80 % (global magnitude)", evaluate(model, x_test, y_test)["accuracy"])
    fit(model, opt, x_train, y_train, epochs=1, seed=0, progress=False)
    layers = [layer for layer, _ in prunable_parameters(model)]
    nonzero = sum(np.count_nonzero(m.effective("weight").data) for m in layers)
    sparsity = 1 - nonzero / sum(m.weight.data.size for m in layers)
    step("fine-tuned 1 epoch (masks kept)", evaluate(model, x_test, y_test)["accuracy"])

    qmodel = static_ptq(model, [x_train[i * 256:(i + 1) * 256] for i in range(4)], per_channel=True)
    q_pred = predict(qmodel, x_test).argmax(1)
    step("int8 static PTQ (fake-quantized)", (q_pred == y_test).mean())
    imodel = to_integer(qmodel)
    i_logits = imodel.predict(x_test)
    step("int8 integer model (minicompress kernels)", (i_logits.argmax(1) == y_test).mean(),
         float((i_logits.argmax(1) == q_pred).mean()), "fake-quantized")

    qdq_path, int_path = os.path.join(folder, "lenet5-qdq.onnx"), os.path.join(folder, "lenet5-int8.onnx")
    qdq_bytes, int_bytes = export_onnx(qmodel, qdq_path), export_onnx(imodel, int_path)
    ort_qdq = run_onnx(qdq_path, x_test)
    step("ONNX Runtime, QDQ export", (ort_qdq.argmax(1) == y_test).mean(), float((ort_qdq.argmax(1) == q_pred).mean()),
         "fake-quantized", qdq_bytes)
    ort_int = run_onnx(int_path, x_test)
    step("ONNX Runtime, integer-operator export", (ort_int.argmax(1) == y_test).mean(),
         float((ort_int.argmax(1) == i_logits.argmax(1)).mean()), "integer model", int_bytes)

    table(rows, ["step", "accuracy", "prediction_agreement", "compared_with", "file_bytes"])
    identical = bool(np.array_equal(ort_int, i_logits))
    print(f"imported logits vs PyTorch's: largest difference {max_diff:.2e} (relative); weight sparsity "
          f"{sparsity:.3f}; integer export's logits identical to minicompress's: {identical}")
    write_json(json_path, {"benchmark": "pytorch_lenet5", "machine": machine(), "torch": torch.__version__,
                           "epochs": epochs, "steps": rows, "imported_max_relative_difference": max_diff,
                           "sparsity": sparsity, "integer_export_identical": identical})
    return 0


def _missing(module):
    import importlib.util

    return importlib.util.find_spec(module) is None


if __name__ == "__main__":
    sys.exit(main())

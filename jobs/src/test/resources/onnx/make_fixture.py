#!/usr/bin/env python3
"""Makes the ONNX teacher fixture for Distillery's tests: a small PyTorch CNN for 28x28x1
Fashion-MNIST, trained briefly on real data, exported with torch.onnx.export (opset 13, dynamic
batch), plus its PyTorch reference logits on the first 32 images of the test file.

Rerun (from the repository root; needs Debian's python3-torch, 1.13, CPU only, ~1 minute):

    /usr/bin/python3 jobs/src/test/resources/onnx/make_fixture.py \
        --data /usr/share/datasets/fashion-mnist --out jobs/src/test/resources/onnx

Writes fashion_cnn.onnx and fashion_cnn_reference.json. The model takes input 'image' as
NCHW float32 [N, 1, 28, 28] with x = (pixel / 255 - 0.2860) / 0.3530 and returns 'logits'
[N, 10]. In Distillery that is teacher.onnx { scale = 0.00392156862745098, mean = [0.2860],
std = [0.3530] }. Intermediate values keep PyTorch 1.13's exporter names, usable as precompute.taps:
'/Relu_output_0' [8, 28, 28], '/MaxPool_output_0' [8, 14, 14], '/Relu_1_output_0' [16, 14, 14],
'/MaxPool_1_output_0' [16, 7, 7], '/Flatten_output_0' [784] (batch-norm folded into the convs).
"""
import argparse
import gzip
import json
import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN, STD = 0.2860, 0.3530


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return torch.frombuffer(bytearray(data[4 + 4 * dims:]), dtype=torch.uint8).reshape(shape)


class FashionCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16 * 7 * 7, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        return self.fc(torch.flatten(x, 1))


def normalise(images_u8):
    return (images_u8.float().unsqueeze(1) / 255.0 - MEAN) / STD


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--reference-images", type=int, default=32)
    args = ap.parse_args()
    torch.manual_seed(7)
    torch.set_num_threads(1)

    train_x = read_idx(os.path.join(args.data, "train-images-idx3-ubyte.gz"))
    train_y = read_idx(os.path.join(args.data, "train-labels-idx1-ubyte.gz")).long()
    test_x = read_idx(os.path.join(args.data, "t10k-images-idx3-ubyte.gz"))
    test_y = read_idx(os.path.join(args.data, "t10k-labels-idx1-ubyte.gz")).long()

    model = FashionCnn()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(1)
    model.train()
    for step in range(args.steps):
        idx = torch.randint(0, train_x.shape[0], (64,), generator=g)
        loss = F.cross_entropy(model(normalise(train_x[idx])), train_y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0:
            print(f"step {step} loss {loss.item():.4f}")
    model.eval()
    with torch.no_grad():
        correct = sum((model(normalise(test_x[i:i + 1000])).argmax(1) == test_y[i:i + 1000]).sum().item()
                      for i in range(0, 10000, 1000))
    print(f"test accuracy {correct / 10000:.4f}")

    onnx_path = os.path.join(args.out, "fashion_cnn.onnx")
    torch.onnx.export(model, normalise(test_x[:2]), onnx_path, opset_version=13, input_names=["image"],
                      output_names=["logits"], dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
                      do_constant_folding=True)

    n = args.reference_images
    with torch.no_grad():
        logits = model(normalise(test_x[:n]))
    ref = {
        "description": "PyTorch " + torch.__version__ + " logits of fashion_cnn.onnx's source model (eval mode) on the first "
                       + str(n) + " images of t10k-images-idx3-ubyte.gz; made by make_fixture.py",
        "input": {"name": "image", "layout": "NCHW", "scale": 1 / 255.0, "mean": [MEAN], "std": [STD]},
        "test_accuracy": correct / 10000,
        "test_index": list(range(n)),
        "labels": test_y[:n].tolist(),
        "images_hex": [bytes(test_x[i].flatten().tolist()).hex() for i in range(n)],
        "logits": [[float(v) for v in row] for row in logits.tolist()],
    }
    with open(os.path.join(args.out, "fashion_cnn_reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
    print("wrote", onnx_path, os.path.getsize(onnx_path), "bytes")


if __name__ == "__main__":
    main()

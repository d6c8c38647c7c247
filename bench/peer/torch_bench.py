"""The PyTorch side of bench/peer.sh: the demo's teacher and student (models.py) on the same
Fashion-MNIST images, batch size, optimizer, KD loss and thread count as Distillery, timed on CPU.

Measures, each on a freshly initialised student (seed 12345) for one epoch over the first N training
images in a seeded shuffled order, after 3 untimed warm-up steps on that student:
  * labels only:  cross-entropy;
  * offline KD:   0.3 CE + 0.7 T^2 KL(teacher || student) at T = 4, teacher logits read from a tensor
                  filled by one teacher pass beforehand (what Distillery's precompute stores);
  * online KD:    the same loss with the teacher run (eval mode, no grad) on every batch;
  * online KD, augmented: the same, on every batch freshly augmented as Distillery's stored views
                  are (per image a random crop of the image zero-padded by 2, and a horizontal flip
                  half of the time), teacher and student on the same augmented images.
and the teacher's forward pass (eval mode, no grad) in images/s at the precompute batch size (256).
The teacher has random weights: speed does not depend on them. Optimizer: Adam, lr 0.01, betas
(0.9, 0.999), eps 1e-8, L2 1e-4 added to the gradient of conv and dense weights only (DL4J's l2).
Writes a JSON object to --out.
"""
import argparse
import gzip
import json
import os
import struct
import time

import numpy as np
import torch
import torch.nn.functional as F

import models


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(data_dir, n):
    images = read_idx(os.path.join(data_dir, "train-images-idx3-ubyte.gz"))[:n]
    labels = read_idx(os.path.join(data_dir, "train-labels-idx1-ubyte.gz"))[:n]
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1).contiguous()  # NCHW in [0, 1]
    return x, torch.from_numpy(labels.astype(np.int64))


def kd_loss(student_logits, teacher_logits, labels, args):
    t = args.temperature
    kd = F.kl_div(F.log_softmax(student_logits / t, dim=1), F.softmax(teacher_logits / t, dim=1), reduction="batchmean") * t * t
    return args.ce_weight * F.cross_entropy(student_logits, labels) + args.kd_weight * kd


def optimizer(model, args):
    decay, rest = models.decayed_and_not(model)
    # torch's Adam weight_decay adds wd * w to the gradient before the update: DL4J's L2 (not AdamW).
    return torch.optim.Adam([{"params": decay, "weight_decay": args.l2}, {"params": rest, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.999), eps=1e-8)


def augment(xb, pad, gen):
    """Per image: a random crop of the zero-padded image (a shift in [-pad, pad]) and a flip half of the time."""
    n, _, h, w = xb.shape
    padded = F.pad(xb, (pad, pad, pad, pad))
    dx, dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen), torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    out = torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])
    flip = torch.rand(n, generator=gen) < 0.5
    out[flip] = out[flip].flip(3)
    return out


def student_epoch(mode, x, y, stored, teacher, args):
    """Seconds for one epoch of a fresh student; mode is labels, offline, online or online-augmented."""
    torch.manual_seed(args.seed)
    student = models.student().train()
    opt = optimizer(student, args)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(args.seed))
    batches = [order[i:i + args.batch] for i in range(0, len(order), args.batch)]
    gen = torch.Generator().manual_seed(args.seed)

    def step(idx):
        xb, yb = x[idx], y[idx]
        if mode == "online-augmented":
            xb = augment(xb, args.crop_pad, gen)
        out = student(xb)
        if mode == "labels":
            loss = F.cross_entropy(out, yb)
        elif mode == "offline":
            loss = kd_loss(out, stored[idx], yb, args)
        else:
            with torch.no_grad():
                t = teacher(xb)
            loss = kd_loss(out, t, yb, args)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    for idx in batches[:3]:
        step(idx)
    start = time.perf_counter()
    for idx in batches:
        loss = step(idx)
    seconds = time.perf_counter() - start
    print(f"  {mode}: {seconds:.1f} s, {len(x) / seconds:,.0f} images/s, last loss {loss.item():.3f}", flush=True)
    return seconds


def teacher_forward(teacher, x, batch):
    """All logits of x, and images/s, batch by batch in eval mode after 3 warm-up batches."""
    with torch.no_grad():
        for i in range(0, min(3 * batch, len(x)), batch):
            teacher(x[i:i + batch])
        out = torch.empty(len(x), 10)
        start = time.perf_counter()
        for i in range(0, len(x), batch):
            out[i:i + batch] = teacher(x[i:i + batch])
        seconds = time.perf_counter() - start
    return out, len(x) / seconds


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--images", type=int, required=True, help="first N training images (Distillery's train split size)")
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--teacher-batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--l2", type=float, default=1e-4)
    p.add_argument("--temperature", type=float, default=4.0)
    p.add_argument("--ce-weight", type=float, default=0.3)
    p.add_argument("--kd-weight", type=float, default=0.7)
    p.add_argument("--crop-pad", type=int, default=2, help="augmentation.crop-pad of Distillery's config")
    p.add_argument("--seed", type=int, default=12345)
    p.add_argument("--out", required=True)
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    teacher, student = models.teacher().eval(), models.student()
    counts = {"teacher": (models.dl4j_parameter_count(teacher), models.trainable_parameter_count(teacher)),
              "student": (models.dl4j_parameter_count(student), models.trainable_parameter_count(student))}
    for name, (dl4j, trainable) in counts.items():
        print(f"PyTorch {name}: {dl4j:,} parameters counted as DL4J does ({trainable:,} trainable + BN running mean/var)")
    assert counts["teacher"][0] == models.TEACHER_DL4J_PARAMETERS, counts
    assert counts["student"][0] == models.STUDENT_DL4J_PARAMETERS, counts

    x, y = load(args.data, args.images)
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads, {len(x):,} training images, batch {args.batch}", flush=True)
    stored, forward = teacher_forward(teacher, x, args.teacher_batch)
    print(f"  teacher forward: {forward:,.0f} images/s at batch {args.teacher_batch}", flush=True)
    results = {
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "train_rows": len(x),
        "batch_size": args.batch,
        "teacher_batch_size": args.teacher_batch,
        "teacher_parameters": counts["teacher"][0],
        "student_parameters": counts["student"][0],
        "teacher_trainable_parameters": counts["teacher"][1],
        "student_trainable_parameters": counts["student"][1],
        "teacher_forward_images_per_second": forward,
    }
    for mode in ("labels", "offline", "online", "online-augmented"):
        results[f"{mode.replace('-', '_')}_epoch_seconds"] = student_epoch(mode, x, y, stored, teacher, args)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()

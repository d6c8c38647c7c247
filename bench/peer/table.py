"""Prints bench/peer.sh's one table from the JSON the two sides wrote, and saves it as
bench/results/peer-<date>.md and .json. Usage: table.py WORK_DIR RESULTS_DIR LIMIT"""
import datetime
import json
import os
import sys


def read(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def num(v, digits=1):
    return "–" if v is None else f"{v:,.{digits}f}"


def main():
    work, results_dir, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
    d, plain, t = read(os.path.join(work, "spark-results.json")), read(os.path.join(work, "plain-results.json")), read(
        os.path.join(work, "torch-results.json"))
    rows = d["train_rows"]
    problems = []
    if t["train_rows"] != rows:
        problems.append(f"PyTorch trained on {t['train_rows']:,} images, Distillery on {rows:,}")
    for m in ("teacher", "student"):
        if t[f"{m}_parameters"] != d[f"{m}_parameters"]:
            problems.append(f"{m}: PyTorch {t[f'{m}_parameters']:,} parameters, DL4J {d[f'{m}_parameters']:,}")
    if t["threads"] != d["workers"]:
        problems.append(f"PyTorch used {t['threads']} threads, Distillery {d['workers']} Spark workers")

    views = d["views"]
    kd_ratio = d["distill_epoch_seconds"] / t["online_epoch_seconds"]
    views_ratio = d["views_distill_epoch_seconds"] / t["online_augmented_epoch_seconds"]
    speed_ratio = (rows / d["distill_epoch_seconds"]) / (t["train_rows"] / t["offline_epoch_seconds"])
    table = [
        ("student epoch, labels only (s)", d["student_labels_epoch_seconds"], t["labels_epoch_seconds"], 1, True),
        ("offline-KD epoch, stored teacher logits (s)", d["distill_epoch_seconds"], t["offline_epoch_seconds"], 1, True),
        (f"offline-KD epoch, {views} stored augmented views per image, one per epoch (s)", d["views_distill_epoch_seconds"], None, 1, False),
        ("online-KD epoch, teacher run every batch (s)", None, t["online_epoch_seconds"], 1, False),
        ("online-KD epoch, batches freshly augmented, teacher run every batch (s)", None, t["online_augmented_epoch_seconds"], 1, False),
        ("first epoch in a fresh JVM (JIT warm-up): labels only / offline KD / stored views (s)",
         None, None, 1, False, " / ".join(num(d[k]) for k in ("student_labels_first_epoch_seconds", "distill_first_epoch_seconds",
                                                               "views_distill_first_epoch_seconds"))),
        ("student images/s, labels only", rows / d["student_labels_epoch_seconds"], t["train_rows"] / t["labels_epoch_seconds"], 0, True),
        ("student images/s, offline KD", rows / d["distill_epoch_seconds"], t["train_rows"] / t["offline_epoch_seconds"], 0, True),
        (f"teacher forward, images/s (batch {t['teacher_batch_size']}; Distillery: DL4J output() in one JVM)",
         plain and plain["output_images_per_second"], t["teacher_forward_images_per_second"], 0, True),
        ("teacher forward, images/s (Distillery: the ONNX export in ONNX Runtime, one JVM)",
         plain and plain["onnxruntime_output_images_per_second"], None, 0, False),
        ("precompute, images/s (Spark job, engine dl4j: inference + encoding + Parquet write + verification)",
         d["precompute_images_per_second"], None, 0, False),
        ("precompute, images/s (Spark job, engine onnxruntime)", d["precompute_onnxruntime_images_per_second"], None, 0, False),
        (f"precompute, images/s (Spark job, engine onnxruntime, {views} augmented views per image; image-views/s)",
         d["precompute_views_images_per_second"], None, 0, False),
        ("offline-KD epoch, one JVM ComputationGraph.fit on the same batches (s)", plain and plain["fit_epoch_seconds"], None, 1, False),
    ]
    date = datetime.date.today().isoformat()
    lines = [
        "## Distillery against PyTorch on one machine: ResNet teacher "
        f"({d['teacher_parameters']:,} parameters) to cnn4 ({d['student_parameters']:,})",
        "",
        f"Fashion-MNIST, {rows:,} training images ({'data.limit = ' + format(limit, ',') if limit else 'the full demo data'}; "
        "Distillery's train split, PyTorch the first as many images of the training file), batch "
        f"{t['batch_size']}, Adam lr 0.01 with L2 1e-4, KD at T = 4 weighted CE 0.3 / KD 0.7; {os.cpu_count()} cores, {date}. "
        f"Distillery: Spark {d['master']}, {d['workers']} workers, {d['openmp_threads']} OpenMP thread(s) per task, "
        f"teacher batch 256{'' if plain is None else '; one-JVM rows with ' + str(plain['openmp_threads']) + ' OpenMP threads'}. "
        f"PyTorch {t['torch_version']}: {t['threads']} threads, random-weight teacher, 3 untimed warm-up steps per epoch.",
        "",
        "| measurement | Distillery | PyTorch | Distillery ÷ PyTorch |",
        "|---|---:|---:|---:|",
    ]
    for name, dv, tv, digits, ratio, *text in table:
        r = f"{dv / tv:.2f}" if ratio and dv is not None and tv is not None else ""
        lines.append(f"| {name} | {text[0] if text else num(dv, digits)} | {num(tv, digits)} | {r} |")
    lines += [
        "",
        "| goal | measured | goal | met |",
        "|---|---:|---:|---|",
        f"| Distillery offline distill epoch ÷ PyTorch online-KD epoch | {kd_ratio:.2f} | ≤ 0.5 | {'yes' if kd_ratio <= 0.5 else 'no'} |",
        f"| the same with augmentation: {views} stored views ÷ PyTorch online KD on freshly augmented batches | {views_ratio:.2f} | ≤ 0.5 | {'yes' if views_ratio <= 0.5 else 'no'} |",
        f"| Distillery student images/s (offline KD) ÷ PyTorch offline-KD images/s | {speed_ratio:.2f} | ≥ 0.8 | {'yes' if speed_ratio >= 0.8 else 'no'} |",
        "",
        "Seconds: lower is better; images/s: higher is better. PyTorch's stored logits come from its teacher forward pass "
        "(its precompute is that row). Distillery's epochs are each student's second, after a first epoch in which the JVM "
        "compiles the training path (that row); PyTorch's follow 3 untimed warm-up steps of the same student.",
    ]
    load = (float(os.environ.get("PEER_LOAD_START", "nan")), os.getloadavg()[0])
    # Only the load before the run says something about other work: the one after includes this benchmark's own threads.
    lines.append(f"Load average (1 min) before the run {load[0]:.1f}, after it {load[1]:.1f} (this benchmark's own threads), on {os.cpu_count()} cores"
                 + (": the machine was busy when the run began, so other work may have shared the cores."
                    if load[0] > os.cpu_count() / 2 else "."))
    lines += [f"MISMATCH: {p}" for p in problems]
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(results_dir, exist_ok=True)
    stem = os.path.join(results_dir, f"peer-{date}")
    with open(stem + ".md", "w") as f:
        f.write(text)
    with open(stem + ".json", "w") as f:
        json.dump({"date": date, "limit": limit, "load_average_before_after": load, "distillery": d, "distillery_plain": plain, "pytorch": t,
                   "ratios": {"distill_epoch_over_pytorch_online_kd_epoch": kd_ratio,
                              "views_distill_epoch_over_pytorch_online_augmented_kd_epoch": views_ratio,
                              "student_images_per_second_over_pytorch_offline_kd": speed_ratio},
                   "mismatches": problems}, f, indent=2)
    print(f"Wrote {stem}.md and {stem}.json")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

"""The suite's results as Markdown tables and as a bar chart."""
from __future__ import annotations

import textwrap

from .epochs import IMPLEMENTATIONS, threads_chosen
from .workloads import WORKLOADS

LABELS = {"staticnet": "staticnet", "numpy": "NumPy", "numpy_ftz": "NumPy FTZ", "pytorch": "PyTorch eager",
          "jax": "JAX jit"}


def _seconds(value, note=None):
    if value is None:
        return note or "-"
    return f"{value:.3f}"


def epoch_table(results) -> list[str]:
    peak = results["roofline"]["all_threads_gflops"]
    lines = ["| workload | batch | staticnet s | threads | target s | "
             + " | ".join(f"{LABELS[n]} s" for n in IMPLEMENTATIONS[1:])
             + " | NumPy / staticnet | fastest peer / staticnet | GFLOP/s | % of SGEMM peak |",
             "| --- " * (len(IMPLEMENTATIONS) + 8) + "|"]
    for r in results["epochs"]:
        peer_times = [r[f"{p}_s"] for p in ("pytorch", "jax") if r[f"{p}_s"] is not None]
        peer_ratio = f"{min(peer_times) / r['staticnet_s']:.2f}x" if peer_times else "-"
        cells = [r["workload"], str(r["batch"]), _seconds(r["staticnet_s"]), threads_chosen(r["staticnet_threads"]),
                 _seconds(r["target_s"], "") if r["target_s"] else "",
                 *(_seconds(r[f"{n}_s"], r["notes"].get(n)) for n in IMPLEMENTATIONS[1:]),
                 f"{r['numpy_ratio']:.2f}x", peer_ratio, f"{r['gflops']:.1f}", f"{100 * r['gflops'] / peak:.0f}%"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown(results) -> str:
    machine, roofline = results["machine"], results["roofline"]
    scaled = sorted({(r["workload"], r["rows_timed"]) for r in results["epochs"] if r["rows_timed"] < 60_000})
    lines = ["# Benchmarks", "",
             f"Written by `{results.get('command', 'staticnet bench')}` on {results.get('date', 'an unrecorded date')} "
             "(do not edit: run it again). Peers: " + ", ".join(f"{p} {state}" for p, state in
                                                                 sorted(results.get("peers", {}).items())) + ".", "",
             f"Machine: {machine['cpu']}"
             + (f" ({machine['vector_units']})" if machine.get("vector_units") else "")
             + f", {machine['cores']} cores, {machine['threads']} threads; BLAS: "
             f"{machine['blas']}; NumPy {machine['numpy']}, Numba {machine['numba']}.",
             f"Roofline (float32 2048x2048 matrix product, the fastest of "
             f"{roofline.get('rounds', 1)} at each thread count, taken in turn at the start and the end of the run): "
             f"{roofline['one_thread_gflops']:.0f} GFLOP/s on one thread, {roofline['all_threads_gflops']:.0f} on "
             f"{machine['threads']}.", "",
             f"Seconds per training epoch of 60,000 images ({results['data']}), median of "
             f"{results['epochs'][0]['repeats'] if results['epochs'] else 0} repeats taken in turn; "
             "ratios above 1 mean staticnet is faster." +
             "".join(f" {w} timed over {n:,} images and scaled to the epoch." for w, n in scaled), ""]
    if results["epochs"]:
        lines += epoch_table(results) + [""]
    if results["compile"]:
        lines += compile_table(results["compile"]) + [""]
    if results["kernels"]:
        lines += ["| kernel | staticnet us | NumPy us | NumPy / staticnet |", "| --- | --- | --- | --- |"]
        lines += [f"| {k['kernel']} | {k['staticnet_us']:.1f} | {k['numpy_us']:.1f} | {k['ratio']:.2f}x |"
                  for k in results["kernels"]]
        lines.append("")
    if results.get("products"):
        lines += product_table(results["products"], roofline["one_thread_gflops"]) + [""]
    return "\n".join(lines)


def product_table(rows, one_thread_peak) -> list[str]:
    """The dense products of a step at the workloads' shapes, each on one thread, beside one BLAS call."""
    lines = ["Dense products of a training step, GFLOP/s on one thread (medians): staticnet's product as a step calls "
             "it (on the routine chosen for its shape by timing the candidates on this machine: BLAS or one of "
             "kernels/microkernel.py's forms), the same BLAS call alone, and NumPy's `np.matmul(a, b, out=)` on all "
             "threads with its per-call overhead.", "",
             "| product | routine | staticnet | BLAS | NumPy | staticnet / BLAS | staticnet, % of one thread's SGEMM |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        ours = r["staticnet_gflops"]
        lines.append(f"| {r['product']} | {r.get('routine', '-')} | {ours:.1f} | {r['blas_gflops']:.1f} | "
                     f"{r['numpy_gflops']:.1f} | "
                     f"{ours / r['blas_gflops']:.2f}x | {100 * ours / one_thread_peak:.0f}% |")
    return lines


SITUATIONS = [("first", "first model (empty caches)"), ("new", "new model, kernel layer cached"),
              ("resized", "same architecture, layers resized"), ("warm", "warm: same model, another process"),
              ("copied", "same model file copied, renamed, commented")]


def compile_table(rows) -> list[str]:
    """Seconds until the first training step can run (and until every loop can), per situation, beside JAX."""
    repeats = rows[0].get("repeats", 1)
    lines = [f"Compile seconds in fresh processes, median of {repeats}: until the first training step can run "
             "(in brackets: with the evaluation and prediction loops too); JAX: the jitted train step's first "
             "call minus a warm one.", "",
             "| situation | " + " | ".join(r["workload"] for r in rows) + " |",
             "| --- |" + " --- |" * len(rows)]
    for key, label in SITUATIONS:
        cells = [f"{r[f'{key}_train_s']:.2f} ({r[f'{key}_all_s']:.2f})" for r in rows]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("| JAX jit, the same train step | " + " | ".join(
        f"{r['jax_s']:.2f}" if r.get("jax_s") is not None else r.get("jax_note", "not measured") for r in rows) + " |")
    if not all(r["warm_from_cache"] for r in rows):
        lines.append("(!) a warm, copied or resized model compiled something: the cache missed")
    return lines


def plot(results, path):
    """Epoch time per batch size on a log scale, one panel per workload, targets as black marks."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    workloads = [w for w in WORKLOADS if any(r["workload"] == w for r in results["epochs"])]
    fig, axes = plt.subplots(1, len(workloads), figsize=(5 * len(workloads), 4.2), squeeze=False)
    for ax, workload in zip(axes[0], workloads):
        rows = [r for r in results["epochs"] if r["workload"] == workload]
        shown = [n for n in IMPLEMENTATIONS if any(r[f"{n}_s"] is not None for r in rows)]
        width = 0.8 / len(shown)
        for i, name in enumerate(shown):
            xs = [j + (i - (len(shown) - 1) / 2) * width for j in range(len(rows))]
            ax.bar(xs, [r[f"{name}_s"] or 0 for r in rows], width, label=LABELS[name])
        for j, r in enumerate(rows):
            if r["target_s"]:
                ax.plot([j - 0.45, j + 0.45], [r["target_s"]] * 2, color="black", linewidth=2,
                        label="target" if j == next(k for k, q in enumerate(rows) if q["target_s"]) else None)
        ax.set_yscale("log")
        ax.set_xticks(range(len(rows)), [str(r["batch"]) for r in rows])
        ax.set_xlabel("minibatch size")
        ax.set_ylabel("seconds per epoch (log scale)")
        ax.set_title(textwrap.fill(f"{workload}: {WORKLOADS[workload].description}", 60), fontsize=8)
    handles = {}
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=len(handles), fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)

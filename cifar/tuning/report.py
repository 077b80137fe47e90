"""What the tuner hands back: a terminal summary, a ready-to-paste snippet, JSON, and a Markdown report with
PNG plots (intra x inter heatmap of the trials, best-so-far against trials, throughput as % of this machine's
matmul peak)."""

from __future__ import annotations

import math
from pathlib import Path

from rich.markup import escape

from cifar.stats.estimate import rate_over
from cifar.tuning.space import BY_NAME, Setting


#: The snippet's knobs, one line each, so a user (and the test that runs it) can shrink or point it elsewhere.
SNIPPET_KNOBS = ('DATA = "auto"  # CIFAR-10: $CIFAR10_DIR or Keras\' cache, else a synthetic stand-in; or a path',
                 "N_TRAIN = None  # every training image (CIFAR-10: 50,000)",
                 "EPOCHS = 10")


def _literal(text: str) -> str:
    """`text` as a double-quoted Python string literal, whatever it holds (a path with quotes or backslashes):
    JSON's string escapes are Python's."""
    import json

    return json.dumps(text)


def snippet(setting: Setting, model: str = "seed_cnn", data: str = "auto", usable: list[int] | None = None) -> str:
    """A complete training script that applies `setting` as the tuner measured it: environment first, then the
    thread pools before any op, the precision policy, the data (`data`: as tune's ``--data``), the model (`model`:
    one of `cifar.training.models.MODELS` or the user's ``pkg.module:function``), the input pipeline (every function
    it maps defined in it) and ``fit``.
    Runs as printed (``python tuned.py``); `SNIPPET_KNOBS` are its first lines after the imports. `usable`: the
    CPUs the tuner could use (this process's affinity by default), of which a setting with fewer cores ran on the
    first ones, named in the ``taskset`` alternative."""
    import os

    def knob(name: str) -> str | None:  # the dimension's own text for its value (cifar.tuning.space.TABLE)
        return BY_NAME[name].snippet(getattr(setting, name))

    lines = ["# The tuner's answer as a complete script: save it as tuned.py and run python tuned.py", "import os"]
    onednn = knob("onednn")
    if onednn:
        lines.append(f"{onednn}  # read when TensorFlow is imported: before the import")
    if setting.cpus is not None:
        used = setting.affinity(sorted(os.sched_getaffinity(0)) if usable is None else usable) or ()
        cpus = ",".join(map(str, used))
        lines.append(f"{knob('cpus')}  # the first {setting.cpus} usable core(s), as measured (CPU {cpus}); or: "
                     f"taskset -c {cpus} python tuned.py")
    lines += ["import tensorflow as tf", "import keras", "",
              "from cifar.training.data import load_cifar10", "from cifar.training.models import build_model", "",
              *(SNIPPET_KNOBS if data == "auto" else (f"DATA = {_literal(data)}", *SNIPPET_KNOBS[1:])), "",
              "# before any op runs: TensorFlow accepts thread settings only then",
              knob("intra") + ("  # 0: TensorFlow decides" if setting.intra == 0 else ""),
              knob("inter") + ("  # 0: TensorFlow decides" if setting.inter == 0 else "")]
    if knob("precision"):
        lines.append(f"{knob('precision')}  # before the model is built")
    lines += ["", "data = load_cifar10(DATA, n_train=N_TRAIN)  # uint8 images (N, 32, 32, 3), int labels (N, 1)",
              "x_train, y_train = data.x_train, data.y_train",
              f"model = build_model({_literal(model)}, compile=False)"]
    options = setting.pipeline_options
    compile_args = 'optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"]'
    if knob("jit_compile"):
        compile_args += ", " + knob("jit_compile")
    if options is None:
        lines += ["", f"model.compile({compile_args})",
                  "# the article's input: float32 arrays / 255 straight into model.fit",
                  'model.fit(x_train.astype("float32") / 255.0, y_train, batch_size=128, epochs=EPOCHS)']
        return "\n".join(lines) + "\n"
    # Repeated, as it was measured: a fresh iterator every epoch (fit's default for a finite dataset) runs some
    # epochs on one core on some machines (tf.data's autotuning; docs/measuring.md).
    repeat = "train_ds = train_ds.repeat()  # one iterator for the whole fit, as measured: see steps_per_epoch"
    if options.variant == "seed":
        lines += ["", "",
                  "def augment(image, label):",
                  "    return tf.image.random_flip_left_right(image), label", "", "",
                  "# the article's pipeline: float32 / 255 first, then shuffle, flip image by image, batch",
                  'train_ds = tf.data.Dataset.from_tensor_slices((x_train.astype("float32") / 255.0, y_train))',
                  "train_ds = train_ds.shuffle(10000)", repeat,
                  f"train_ds = train_ds.map(augment, {knob('num_parallel_calls')})",
                  "train_ds = train_ds.batch(128).prefetch(tf.data.AUTOTUNE)"]
    else:
        lines += ["", "",
                  "def augment_batch(images, labels):",
                  '    """A whole uint8 batch at once: cast, scale to [0, 1], flip about half of it."""',
                  "    images = tf.cast(images, tf.float32) / 255.0",
                  "    flip = tf.random.uniform([tf.shape(images)[0], 1, 1, 1]) < 0.5",
                  "    return tf.where(flip, tf.reverse(images, axis=[2]), images), labels", "", "",
                  "# uint8 until after batch: 4x less data to shuffle, one map call per batch",
                  "train_ds = tf.data.Dataset.from_tensor_slices((x_train, y_train))",
                  "train_ds = train_ds.shuffle(10000)", repeat, "train_ds = train_ds.batch(128)",
                  f"train_ds = train_ds.map(augment_batch, {knob('num_parallel_calls')})",
                  "train_ds = train_ds.prefetch(tf.data.AUTOTUNE)"]
    if options.private_threadpool_size:
        lines += ["options = tf.data.Options()",
                  knob("private_threadpool_size"),
                  "train_ds = train_ds.with_options(options)"]
    lines += ["", f"model.compile({compile_args})",
              "model.fit(train_ds, steps_per_epoch=len(x_train) // 128, epochs=EPOCHS)"]
    return "\n".join(lines) + "\n"


def grid_for(setting: Setting | None) -> str:
    """`--thread-grid` for the suite: the recommendation's threads and the default, for every case (the tuned case
    measures the rest of the setting: `guard_from_report`)."""
    if setting is None or (setting.intra, setting.inter) == (0, 0):
        return "default"
    return f"{setting.intra}x{setting.inter},default"


def read_report(path: str, where: str, keys: tuple[str, ...], missing: str) -> dict:
    """A tune report (``python -m cifar tune --json PATH``) holding `keys`; `ValueError`, one line starting with
    `where`, for a file that is missing, not JSON, or without them (`missing` says why)."""
    import json

    try:
        report = json.loads(Path(path).read_text())
    except OSError as err:
        raise ValueError(f"{where}: cannot read the tune report ({err.strerror})") from None
    except json.JSONDecodeError:
        raise ValueError(f"{where}: not a JSON tune report") from None
    if not isinstance(report, dict) or any(key not in report for key in keys):
        raise ValueError(f"{where}: {missing}")
    return report


def guard_from_report(path: str) -> dict:
    """What ``pytest benchmarks/ --thread-grid tune:PATH`` measures for a tune report (``python -m cifar tune --json
    PATH``): ``{"grid": the recommendation's threads and the default, "tuned": the recommendation as a whole or
    None}``. The whole setting (``model``, ``id``, ``threads``, ``params`` for the epoch, ``env`` at TensorFlow's
    import, ``cpus``), on the epoch the confirmation decided on (``epoch``: its ``steps``, ``rounds``, ...), is what
    the suite's tuned case runs beside TensorFlow's default; None when the report
    recommends the default itself (nothing to guard beyond it). `ValueError`, one line, for a file that is missing
    or holds no confirmed recommendation."""
    where = f"--thread-grid tune:{path}"
    report = read_report(path, where, ("thread_grid", "recommended"),
                         "no recommendation in it (was the tune run confirmed? --phase search writes none)")
    try:
        setting = Setting.from_dict(report["recommended"])
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: its recommended setting is not one this code can run ({err})") from None
    tuned = None
    if setting != Setting():
        epoch = (report.get("confirmation") or {}).get("epoch") or {}
        tuned = {"path": str(Path(path).resolve()), "model": report.get("model", "seed_cnn"),
                 "id": setting.id.replace(" ", "_"), "threads": [setting.intra, setting.inter],
                 "params": setting.epoch_params(), "env": setting.env(), "cpus": setting.cpus,
                 "setting": setting.to_dict(),
                 # The epoch the confirmation decided on: the guard measures that (None keys: the suite's own).
                 "epoch": {k: epoch[k] for k in ("steps", "rounds", "warmup_rounds", "n_train") if k in epoch}}
    return {"grid": report["thread_grid"], "tuned": tuned}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


#: The column of the speedup on the search's short epochs (a confirmation that measured them beside its own).
SHORT_COLUMN = "short epochs"
#: The terminal table's columns (the Markdown report's add "% of peak"): it fits 120 columns.
TERMINAL_COLUMNS = ("setting", "role", "procs", "images/s", "vs default", SHORT_COLUMN, "loss", "accuracy")


def summary_table(report: dict):
    """The confirmation as a rich table for a terminal 120 columns wide: each arm's images/s, speedup over the
    default, loss and accuracy (the share of the machine's peak is in the Markdown report)."""
    from rich import box
    from rich.table import Table

    confirmation = report["confirmation"]
    short = confirmation.get("short_epoch")
    table = Table(title="Confirmation: re-measured interleaved, fresh processes" + _epochs_title(confirmation),
                  box=box.SIMPLE_HEAD,
                  caption=f"{confirmation['passes']} passes; images/s: each process's images over its time, trimmed "
                          "geometric mean over processes; speedup over TensorFlow's default: paired by pass, 95 % "
                          "trimmed-t interval (cifar.stats.estimate)"
                          + (f"; short epochs: the same on the search's {short['steps']}-step epochs, in the same "
                             "passes (* where the two exclude each other)" if short else "") + "; "
                          + _peak_caption(report)
                          + ("; % of peak: the Markdown report" if report.get("peak_gflops") else ""))
    columns = [c for c in TERMINAL_COLUMNS if short or c != SHORT_COLUMN]
    for column in columns:
        words = column in ("setting", "role")  # ids fold; an interval stays on one line
        table.add_column(column, justify="left" if words else "right", no_wrap=not words,
                         overflow="fold" if words else "ellipsis", min_width=18 if column == "setting" else None)
    for arm in confirmation["arms"]:
        cells = _row(arm, report)
        del cells[5]  # % of peak
        if not short:
            del cells[5]
        table.add_row(*(escape(cell) for cell in cells))
    return table


def _epochs_title(confirmation: dict) -> str:
    epoch = confirmation.get("epoch") or {}
    return f", {epoch['steps']}-step epochs" if epoch.get("steps") else ""


def _row(arm: dict, report: dict) -> list[str]:
    """One confirmed arm's cells: setting, role, processes, images/s, speedup, % of peak, speedup on the short
    epochs (a star where it and the speedup exclude each other), loss, accuracy."""
    speedup, median, training = arm["speedup"], arm["images_per_s_geomean"], arm["training"]
    short = (arm.get("short") or {}).get("speedup")
    return [arm["id"], arm["role"] + (" (dropped)" if arm["dropped"] else ""), str(arm["processes"]),
            "-" if median is None else f"{median:,.0f}", _ratio(speedup),
            _pct(_peak_fraction(median, report)),
            _ratio(short) + (" *" if arm.get("disagrees") else ""),
            "-" if training["loss"] is None else f"{training['loss']:.3f}",
            "-" if training["accuracy"] is None else f"{training['accuracy']:.3f}"]


def _ratio(speedup: dict | None) -> str:
    return "-" if speedup is None else f"{speedup['ratio']:.2f}x [{speedup['low']:.2f}, {speedup['high']:.2f}]"


def _peak_caption(report: dict) -> str:
    if report.get("peak_gflops"):
        return f"peak {report['peak_gflops']:.0f} GFLOP/s (fp32 matmul)"
    return f"peak not measured ({report.get('peak_error', 'no peak in the report')}): no % of peak"


def _peak_fraction(images_per_s: float | None, report: dict) -> float | None:
    flops = report.get("flops_per_image")
    if images_per_s is None or not flops or not report.get("peak_gflops"):
        return None
    return images_per_s * flops / (report["peak_gflops"] * 1e9)


def markdown(report: dict, plots: dict[str, Path]) -> str:
    """The Markdown report: the verdict, the snippet, the confirmation table, the search, the plots."""
    c = report["confirmation"]
    search = report["search"]
    out = [f"# Tuning {report['model']} on {report['cpu_model']} ({report['budget_cores']})", "",
           f"{report['date']}, study `{report['study']}` in `{report['storage']}`, budget "
           f"{report['budget_seconds']:.0f} s "
           f"(search {search['seconds']:.0f} s, confirmation {c['seconds']:.0f} s).", "",
           f"**{c['verdict']}**", "", "```python", report["snippet"].rstrip(), "```", "",
           "Guard it in the suite (the setting as a whole beside TensorFlow's default, in `test_epoch[MODEL-tuned]`): "
           "`pytest benchmarks/ --thread-grid tune:PATH`, PATH this report's JSON.", "",
           "## Confirmation", "",
           _confirmation_line(c), "",
           "| setting | role | processes | images/s | speedup vs default | % of peak | short epochs | loss "
           "| accuracy |",
           "|---|---|---|---|---|---|---|---|---|"]
    for arm in c["arms"]:
        out.append("| " + " | ".join(_row(arm, report)) + " |")
    out += ["", "Loss and accuracy: the last of the same epochs on the same data, median over processes: a faster "
            "precision or compiler setting that broke the model would show here.", "",
            "## Search", "",
            f"{search['trials']} trials in this run ({search['pruned']} pruned after one process, {search['failed']} "
            f"failed), {search['processes']} processes; {search['study_trials']} trials in the study; space of "
            f"{search['space_size']} settings over {', '.join(search['dimensions']) or 'nothing'} "
            f"({search['explored']} measured).", ""]
    for title, path in plots.items():
        out += [f"![{title}]({path.name})", ""]
    return "\n".join(out)


def _confirmation_line(c: dict) -> str:
    """What the confirmation's epochs were, and where the short epochs' ratio did not carry over."""
    epoch, short = c.get("epoch") or {}, c.get("short_epoch")
    if not epoch.get("steps"):
        return "Measured on the search's epochs."
    line = (f"Decided on {epoch['steps']}-step epochs ({epoch.get('rounds', '?')} timed a process, after a "
            "warm-up).")
    if short:
        line += (f" The search ranked settings on {short['steps']}-step epochs; \"short epochs\" is each arm's "
                 "speedup on those, measured in the same passes.")
        line += (" Where marked *, the two intervals exclude each other: the short epoch's ratio does not carry "
                 "over to whole epochs (" + ", ".join(c["disagree"]) + ")." if c.get("disagree") else
                 " They agree (no pair of intervals excludes the other).")
    return line


def plots(report: dict, trials: list[dict], folder: Path, stem: str = "tune") -> dict[str, Path]:
    """Three PNGs beside the report; returns ``{title: path}``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    done = [t for t in trials if t["value"] is not None]

    # 1. intra x inter: the best trial value (images/s over its processes) at each pair.
    intras = sorted({t["setting"]["intra"] for t in trials})
    inters = sorted({t["setting"]["inter"] for t in trials})
    if intras and inters:
        grid = np.full((len(inters), len(intras)), np.nan)
        for t in done:
            i, j = inters.index(t["setting"]["inter"]), intras.index(t["setting"]["intra"])
            grid[i, j] = np.nanmax([grid[i, j], t["value"]])
        fig, ax = plt.subplots(figsize=(1.2 * len(intras) + 3, 0.9 * len(inters) + 2))
        image = ax.imshow(grid, origin="lower", cmap="viridis")
        ax.set_xticks(range(len(intras)), [str(v) if v else "0 (TF)" for v in intras])
        ax.set_yticks(range(len(inters)), [str(v) if v else "0 (TF)" for v in inters])
        ax.set_xlabel("intra_op_parallelism_threads")
        ax.set_ylabel("inter_op_parallelism_threads")
        for (i, j), value in np.ndenumerate(grid):
            if not math.isnan(value):
                ax.text(j, i, f"{value:,.0f}", ha="center", va="center", color="w", fontsize=8)
        fig.colorbar(image, ax=ax, label="best trial, images/s over its processes")
        ax.set_title(f"Trials by intra x inter ({report['cpu_model']})", fontsize=9)
        fig.tight_layout()
        written["intra x inter"] = folder / f"{stem}-heatmap.png"
        fig.savefig(written["intra x inter"], dpi=100)
        plt.close(fig)

    # 2. best so far against trials.
    fig, ax = plt.subplots(figsize=(7, 3.5))
    numbers = [t["number"] for t in trials]
    values = [t["value"] for t in trials]
    ax.scatter([n for n, v in zip(numbers, values) if v is not None], [v for v in values if v is not None], s=12,
               label="trial (images/s over its processes)")
    pruned = [(t["number"], t["first"]) for t in trials if t["state"] == "PRUNED" and t["first"] is not None]
    if pruned:
        ax.scatter(*zip(*pruned), s=12, marker="x", color="grey", label="pruned after one process")
    best, series = -math.inf, []
    for v in values:
        best = max(best, v) if v is not None else best
        series.append(best if best > -math.inf else np.nan)
    ax.step(numbers, series, where="post", color="C1", label="best so far")
    default = report["confirmation"]["arms"][0]["images_per_s_geomean"]
    if default:
        ax.axhline(default, color="k", ls="--", lw=0.8, label="TensorFlow's default (confirmation)")
    ax.set_xlabel("trial")
    ax.set_ylabel("images/s")
    ax.legend(fontsize=7)
    ax.set_title(f"Search: {report['model']}, {report['cpu_model']}", fontsize=9)
    fig.tight_layout()
    written["best so far"] = folder / f"{stem}-progress.png"
    fig.savefig(written["best so far"], dpi=100)
    plt.close(fig)

    # 3. the confirmed arms as % of the fp32 matmul peak.
    arms = [a for a in report["confirmation"]["arms"] if a["images_per_s_geomean"]]
    fractions = [_peak_fraction(a["images_per_s_geomean"], report) for a in arms]
    if arms and all(f is not None for f in fractions):
        fig, ax = plt.subplots(figsize=(7, 0.5 * len(arms) + 1.5))
        ax.barh(range(len(arms)), [100 * f for f in fractions], color="C2")
        ax.set_yticks(range(len(arms)), [f"{a['id']} ({a['role']})" for a in arms], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel(f"% of this machine's fp32 matmul peak ({report['peak_gflops']:.0f} GFLOP/s)")
        ax.set_title("Training throughput x FLOPs per image, against the peak", fontsize=9)
        fig.tight_layout()
        written["% of peak"] = folder / f"{stem}-peak.png"
        fig.savefig(written["% of peak"], dpi=100)
        plt.close(fig)
    return written


def trial_rows(study) -> list[dict]:
    """Every trial of the study, plain: number, state, value, first process's value, setting."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        if "setting" not in t.user_attrs:
            continue
        values = t.user_attrs.get("images_per_s") or []
        rows.append({"number": t.number, "state": t.state.name, "value": t.value, "id": t.user_attrs.get("id"),
                     "first": values[0] if values else None, "images_per_s": values,
                     "setting": t.user_attrs["setting"], "worker": t.user_attrs.get("worker"),
                     "intervals": t.user_attrs.get("intervals"), "error": t.user_attrs.get("error"),
                     "images_per_s_geomean": rate_over(values) if values else None})
    return rows

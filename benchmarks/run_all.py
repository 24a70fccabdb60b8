"""Run every benchmark and write the README's performance table from their results.

Each benchmark runs as a process of its own, one after the other (the Ray ones start and stop their own local
Ray), and writes its JSON under ``benchmarks/results/``; its output goes to ``benchmarks/results/<name>.log``.
The table is then built from those JSON files alone: samples/s of each engine and the ratio to its baseline
measured in the same benchmark run, with the machine named (CPU model, cores, memory). It replaces the lines
between the markers ``<!-- performance-table:start -->`` and ``<!-- performance-table:end -->`` of the README and
goes to ``benchmarks/results/performance.md`` and ``.json`` too. A benchmark that fails leaves its rows out, says
so, and makes the command exit with status 1 after the others have run.

    .venv/bin/python benchmarks/run_all.py --quick      # every benchmark briefly, about 4 minutes on 2 cores
    .venv/bin/python benchmarks/run_all.py              # the full budgets
    .venv/bin/python benchmarks/run_all.py --table-only # rebuild the table from the results already there
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
README = HERE.parent / "README.md"
START, END = "<!-- performance-table:start -->", "<!-- performance-table:end -->"

#: (script, arguments of a brief run, arguments of a full run); the JSON it writes is results/<name>.json.
BENCHMARKS: dict[str, tuple[str, list[str], list[str]]] = {
    "engines": ("bench_engines.py", ["--quick"], []),
    "synapses": ("bench_synapses.py", ["--quick"], []),
    "eventprop": ("bench_eventprop.py", ["--quick"], []),
    "inprocess": ("bench_inprocess.py", ["--quick"], []),
    "exchange": ("bench_exchange.py", ["--quick"], []),
    "field": ("bench_field.py", ["--quick"], []),
    "adapt": ("bench_adapt.py", ["--quick"], []),
}


def machine() -> str:
    """The CPU model, the cores this process may use and the memory, e.g. 'Intel Xeon ... (2 cores, 24 GiB)'."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        return f"{model} ({cores} cores, {memory:.0f} GiB)"
    except (ValueError, OSError, AttributeError):
        return f"{model} ({cores} cores)"


def run(name: str, quick: bool) -> bool:
    """Run one benchmark, its output to results/<name>.log; True when it succeeded."""
    script, brief, full = BENCHMARKS[name]
    RESULTS.mkdir(exist_ok=True)
    log = RESULTS / f"{name}.log"
    start = time.perf_counter()
    print(f"{script} {' '.join(brief if quick else full)} ...", end=" ", flush=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("w") as out:
        code = subprocess.call([sys.executable, str(HERE / script), *(brief if quick else full)], stdout=out,
                               stderr=subprocess.STDOUT, env=env)
    print(f"{'done' if code == 0 else f'FAILED (exit {code}, see {log})'} in {time.perf_counter() - start:.0f} s")
    return code == 0


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _row(rows: list[dict], **match: Any) -> dict | None:
    return next((r for r in rows if all(r.get(k) == v for k, v in match.items())), None)


def _rate(row: dict | None) -> str:
    return f"{row['samples_per_s']:,.0f}" if row else "-"


def _ratio(row: dict | None, base: dict | None, label: str) -> str:
    if not row or not base:
        return "-"
    return f"{row['samples_per_s'] / base['samples_per_s']:.2f}x {label}"


def table_rows() -> tuple[list[tuple[str, str, str, str]], list[str]]:
    """(what, samples/s, ratio, benchmark) rows from the results, and the benchmarks that have none."""
    rows: list[tuple[str, str, str, str]] = []
    missing = []
    engines = _load("engines")
    if engines:
        r = engines["rows"]
        numpy_pe = _row(r, engine="numpy PE", batch=64)
        torch_bptt = _row(r, engine="torch BPTT", batch=64)
        replay = _row(r, engine="replay", batch=64)
        floor = _row(engines.get("matmul_floor", []), batch=64)
        base, label = (torch_bptt, "torch BPTT") if torch_bptt else (numpy_pe, "numpy PE")
        rows += [
            ("e-prop replay engine, batch 64 (both cores)", _rate(replay), _ratio(replay, base, label), "engines"),
            ("its matmul floor (the products a replay step needs, alone)", _rate(floor),
             _ratio(replay, floor, "of it reached by replay"), "engines"),
            ("one PE, online kernel compiled at install, sub-batch 64", _rate(_row(r, engine="c PE", batch=64)),
             _ratio(_row(r, engine="c PE", batch=64), base, label), "engines"),
            ("one PE, online kernel compiled by numba, sub-batch 64", _rate(_row(r, engine="numba PE", batch=64)),
             _ratio(_row(r, engine="numba PE", batch=64), base, label), "engines"),
            ("plain torch BPTT, batch 64, 1 thread", _rate(torch_bptt), "baseline" if torch_bptt else "-", "engines"),
            ("the numpy reference PE, batch 64", _rate(numpy_pe), _ratio(numpy_pe, base, label), "engines"),
        ]
    else:
        missing.append("engines")
    synapses = _load("synapses")
    if synapses:
        r = synapses["rows"]
        digital = _row(r, engine="replay", synapses="digital")
        for kind in ("quantised 4 bit", "pcm 4 bit"):
            row = _row(r, engine="replay", synapses=kind)
            rows.append((f"replay, batch 64, {kind} synapses", _rate(row), _ratio(row, digital, "digital"), "synapses"))
    else:
        missing.append("synapses")
    eventprop = _load("eventprop")
    if eventprop:
        r = eventprop["rows"]
        torch_lif = _row(r, engine="torch BPTT", batch=32)
        offchip = _row(r, engine="offchip", batch=32)
        base, label = (torch_lif, "torch BPTT") if torch_lif else (offchip, "off-chip")
        for engine, what in (
            ("offchip", "EventProp off-chip engine, yinyang, batch 32"),
            ("in-process PEs", "EventProp PE programs in one process (4 hidden, 3 output), batch 32"),
            ("layered PEs", "the same, layered schedule (a round per layer)"),
            ("layered, 1 PE per layer", "the same, layered schedule, 1 PE per layer"),
            ("PE actors", "EventProp on PE actors (4 hidden, 3 output), sub-batch 32"),
            ("layered PE actors", "the same, layered schedule"),
        ):
            row = _row(r, engine=engine, batch=32)
            ratio = _ratio(row, base, label)
            if engine != "offchip" and row and offchip:
                ratio += f", {_ratio(row, offchip, 'off-chip')}"
            rows.append((what, _rate(row), ratio, "eventprop"))
    else:
        missing.append("eventprop")
    inprocess = _load("inprocess")
    if inprocess:
        r = inprocess["rows"]
        group = max(r, key=lambda row: (row["pes"], row["sub_batch"]))
        one = _row(r, pes=1, sub_batch=group["sub_batch"])
        rows.append((f"e-prop, {group['pes']} PEs in one process, sub-batch {group['sub_batch']}", _rate(group),
                     _ratio(group, one, "one PE at the same sub-batch"), "inprocess"))
    else:
        missing.append("inprocess")
    exchange = _load("exchange")
    if exchange and exchange.get("throughput"):
        for row in sorted(exchange["throughput"], key=lambda r: (-r["pes"], r["sub_batch"])):
            rows.append((f"e-prop, {row['pes']} PE actors on shared memory, sub-batch {row['sub_batch']}",
                         f"{row['actors_samples_per_s']:,.1f}", f"{row['ratio']:.2f}x the same PEs in one process",
                         "exchange"))
    else:
        missing.append("exchange")
    adapt = _load("adapt")
    if adapt:
        per_call = _row(adapt["rows"], engine="PE actors", how="call per sample")
        sequence = _row(adapt["rows"], engine="PE actors", how="sequence")
        for row, what in ((per_call, "a driver call per sample"), (sequence, "the PEs learning sequences")):
            if row:
                rows.append((f"batch-1 learning (adapt) on {adapt['pes']} PE actors, {what}",
                             f"{1e3 / row['ms_per_sample']:,.1f}",
                             f"{row['ms_per_sample'] / per_call['ms_per_sample']:.2f}x the time per sample"
                             if per_call else "-", "adapt"))
    else:
        missing.append("adapt")
    field = _load("field")
    if field:
        rows += field_rows(field["rows"])
    else:
        missing.append("field")
    return rows, missing


def field_rows(rows: list[dict]) -> list[tuple[str, str, str, str]]:
    """One table row per engine of ``bench_field.py``: its samples/s and its ratio to snnTorch BPTT at the
    smallest and at the largest size measured (the grid's corners)."""
    sizes = sorted({(r["hidden"], r["n_steps"]) for r in rows}, key=lambda size: size[0] * size[1])
    corners = [sizes[0], sizes[-1]] if len(sizes) > 1 else sizes[:1]
    table: list[tuple[str, str, str, str]] = []
    for engine in dict.fromkeys(r["engine"] for r in rows if r["engine"] != "snntorch BPTT"):
        rates, ratios = [], []
        for hidden, n_steps in corners:
            row = _row(rows, engine=engine, hidden=hidden, n_steps=n_steps)
            base = _row(rows, engine="snntorch BPTT", hidden=hidden, n_steps=n_steps)
            fine = row is not None and row.get("samples_per_s")
            rates.append(_rate(row) if fine else "-")
            ratios.append(_ratio(row, base, "").strip() if fine and base and base.get("samples_per_s") else "-")
        where = " / ".join(f"700-{h}-20 T {t}" for h, t in corners)
        table.append((f"{engine} at {where}, batch 32, one core", " / ".join(rates),
                      f"{' / '.join(ratios)} snnTorch BPTT", "field"))
    return table


def table(quick: bool) -> str:
    """The README's performance table (markdown) from the results."""
    rows, missing = table_rows()
    lines = [
        f"Measured by `benchmarks/run_all.py{' --quick' if quick else ''}` on {date.today():%Y-%m-%d}, "
        f"{machine()}; float32; ratios within one benchmark run.",
        "",
        "| what | samples/s | ratio | benchmark |",
        "| --- | --- | --- | --- |",
        *(f"| {what} | {rate} | {ratio} | `bench_{bench}.py` |" for what, rate, ratio, bench in rows),
    ]
    if missing:
        lines += ["", f"No results from: {', '.join(f'`bench_{m}.py`' for m in missing)}."]
    return "\n".join(lines)


def write_readme(text: str, readme: Path = README) -> None:
    """Replace the lines between the markers of ``readme`` with ``text`` (atomically)."""
    content = readme.read_text()
    if START not in content or END not in content:
        raise SystemExit(f"{readme}: the markers {START} and {END} are missing")
    head, rest = content.split(START, 1)
    _, tail = rest.split(END, 1)
    temporary = readme.with_suffix(".md.tmp")
    temporary.write_text(f"{head}{START}\n{text}\n{END}{tail}")
    temporary.replace(readme)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every benchmark with its brief settings")
    parser.add_argument("--table-only", action="store_true", help="only rebuild the table from the results there")
    parser.add_argument("--only", default=None, help=f"comma-separated benchmarks to run, of {sorted(BENCHMARKS)}")
    parser.add_argument("--no-readme", action="store_true", help="write results/performance.md, not the README")
    args = parser.parse_args()
    names = list(BENCHMARKS) if args.only is None else [n.strip() for n in args.only.split(",")]
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"--only: unknown benchmark(s) {unknown}; the benchmarks are {sorted(BENCHMARKS)}")
    failed = [] if args.table_only else [name for name in names if not run(name, args.quick)]
    text = table(args.quick)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "performance.md").write_text(text + "\n")
    rows, missing = table_rows()
    (RESULTS / "performance.json").write_text(json.dumps(
        {"machine": machine(), "quick": args.quick, "rows": [dict(zip(("what", "samples_per_s", "ratio", "benchmark"),
                                                                     row, strict=True)) for row in rows],
         "missing": missing}, indent=2))
    print(text)
    if not args.no_readme:
        write_readme(text)
        print(f"\nWrote the table into {README}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()

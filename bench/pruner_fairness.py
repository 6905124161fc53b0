"""Was the pruner fair? Rerun the earliest-pruned trials of each study of a search to the end, unpruned.

For every study of the search in SWEEP_DIR (``trials.csv``; confirmation studies left out), the ``--per-study``
pruned trials that stopped earliest (fewest steps, then trial number) are trained again with the same overrides
(the trial's ``.hydra/overrides.yaml`` without the search's own keys) as single runs under
``SWEEP_DIR/fairness/STUDY-N``, ``--jobs`` at a time (each with the environment's OMP_NUM_THREADS); a rerun that already finished is not run again, so a cut check
resumes. Prints a table (also ``SWEEP_DIR/pruner_fairness.md``): the step and dev Spearman it was pruned at,
its dev Spearman run to the end, the study's best, and whether it would have beaten it:

    python bench/pruner_fairness.py multirun/search/stsb-minilm-e234 --jobs 2  # 2 per study, 2 at a time
    python bench/pruner_fairness.py multirun/search/stsb-minilm-e234 --table   # the table from the reruns so far
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import yaml

SEARCH_KEYS = ("+search.", "search.")  # what the sweeper tells a trial's job (study, trial, rerun_of)


def earliest_pruned(trials: pd.DataFrame, per_study: int) -> pd.DataFrame:
    searched = trials[~trials.study.str.contains("-confirm-")]
    pruned = searched[searched.state == "PRUNED"].sort_values(["study", "steps", "number"])
    return pruned.groupby("study", sort=False).head(per_study)


def rerun_overrides(job_dir: Path) -> list[str]:
    overrides = yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text()) or []
    return [override for override in overrides if not override.startswith(SEARCH_KEYS)]


def rerun(job_dir: Path, run_dir: Path) -> None:
    if (run_dir / "metrics.json").is_file():
        return
    command = [sys.executable, "-m", "sts_lab", *rerun_overrides(job_dir), f"hydra.run.dir={run_dir}"]
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})


def pruned_at(job_dir: Path, step: int) -> float | None:
    curve = pd.read_csv(job_dir / "dev_curve.csv")
    at = curve[curve.step == step]
    return float(at.dev_spearman.iloc[-1]) if len(at) else None


def table(sweep_dir: Path, chosen: pd.DataFrame, trials: pd.DataFrame) -> str:
    best = trials[trials.state == "COMPLETE"].groupby("study").value.max()
    lines = ["| study | trial | pruned at step | dev then | dev run to the end | study's best dev | beats it |",
             "|---|---|---|---|---|---|---|"]
    for row in chosen.itertuples():
        metrics_file = sweep_dir / "fairness" / f"{row.study}-{row.number}" / "metrics.json"
        final = json.loads(metrics_file.read_text())["dev_spearman"] if metrics_file.is_file() else None
        then = pruned_at(Path(row.job_dir), int(row.steps))
        cells = [row.study, row.number, int(row.steps), "" if then is None else f"{then:.4f}",
                 "(not run)" if final is None else f"{final:.4f}", f"{best.get(row.study, float('nan')):.4f}",
                 "" if final is None else ("**yes**" if final > best.get(row.study, float("inf")) else "no")]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep_dir", type=Path, help="the search's sweep dir (with trials.csv)")
    parser.add_argument("--per-study", type=int, default=2, help="earliest-pruned trials rerun per study")
    parser.add_argument("--jobs", type=int, default=1, help="reruns at a time")
    parser.add_argument("--table", action="store_true", help="only print the table of the reruns so far")
    args = parser.parse_args()
    trials = pd.read_csv(args.sweep_dir / "trials.csv")
    chosen = earliest_pruned(trials, args.per_study)
    if not args.table:
        with ThreadPoolExecutor(args.jobs) as pool:
            runs = [pool.submit(rerun, Path(row.job_dir), args.sweep_dir / "fairness" / f"{row.study}-{row.number}")
                    for row in chosen.itertuples()]
            for run in runs:
                run.result()
    markdown = table(args.sweep_dir, chosen, trials)
    (args.sweep_dir / "pruner_fairness.md").write_text(markdown)
    print(markdown, end="")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Two netseg builds and the parse floor, side by side on the same inputs.

    bench/versus.py OLD_NETSEG NEW_NETSEG PARSE_FLOOR FILE[:RUNS]...

For each input, runs the floor, the old build's `audit --fail-on none -o json` and the new one's, interleaved
RUNS times (default 3), so that the host's noise falls on all three alike. Prints each run, then per input the
median wall time, CPU time (user + system) and peak RSS, and whether the two builds' findings are byte for byte
the same (the first run of each is kept for that). A YAML input gets the tokenizer floor, as `parse-floor` decides
by the file name. Needs GNU time at /usr/bin/time.

The first run after the machine has been idle can show a second or more of system time (the kernel zeroing pages
the host has taken back); compare CPU time and medians, not one run.
"""

import filecmp
import os
import statistics
import subprocess
import sys
import tempfile
import time


def measure(command, output):
    """Wall seconds, CPU seconds and peak RSS in MiB of one run of `command`, its stdout to `output`."""
    started = time.monotonic()
    with open(output, "w") as sink:
        done = subprocess.run(
            ["/usr/bin/time", "-f", "%U %S %M", *command], stdout=sink, stderr=subprocess.PIPE, text=True
        )
    wall = time.monotonic() - started
    user, system, kib = done.stderr.strip().splitlines()[-1].split()
    return wall, float(user) + float(system), int(kib) / 1024


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    old, new, floor = sys.argv[1:4]
    inputs = []
    for argument in sys.argv[4:]:
        path, _, runs = argument.partition(":")
        inputs.append((path, int(runs or 3)))
    scratch = tempfile.mkdtemp(prefix="versus-")
    results = {}
    for path, runs in inputs:
        name = os.path.basename(path)
        for run in range(runs):
            for label, command in [
                ("floor", [floor, path]),
                ("old", [old, "audit", "--fail-on", "none", "-o", "json", path]),
                ("new", [new, "audit", "--fail-on", "none", "-o", "json", path]),
            ]:
                output = os.path.join(scratch, f"{label}-{run}-{name}")
                figures = measure(command, output)
                results.setdefault((name, label), []).append(figures)
                print(f"{name} {label}: {figures[0]:.2f} s wall, {figures[1]:.2f} s CPU, {figures[2]:.0f} MiB", flush=True)
    print()
    print("| input | floor: wall s, CPU s | old: wall s, CPU s, peak MiB | new: wall s, CPU s, peak MiB | findings |")
    print("|---|---|---|---|---|")
    for path, _ in inputs:
        name = os.path.basename(path)
        medians = {}
        for label in ("floor", "old", "new"):
            runs = results[(name, label)]
            medians[label] = [statistics.median(run[i] for run in runs) for i in range(3)]
        same = filecmp.cmp(os.path.join(scratch, f"old-0-{name}"), os.path.join(scratch, f"new-0-{name}"), shallow=False)
        floor_wall, floor_cpu, _ = medians["floor"]
        cells = [f"{w:.2f}, {c:.2f}, {m:,.0f}" for w, c, m in (medians["old"], medians["new"])]
        print(f"| {name} | {floor_wall:.2f}, {floor_cpu:.2f} | {cells[0]} | {cells[1]} | {'same' if same else 'DIFFERENT'} |")


if __name__ == "__main__":
    main()

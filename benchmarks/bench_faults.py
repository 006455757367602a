"""Fault probe of lola-bench: try each bad case on a source tree and count the outcomes.

    python -m benchmarks.bench_faults [SOURCE_TREE]    # default: this repository

Runs ``lola-bench --scale tiny --suite exact --seeds 1`` (8 tasks) through
concurrent runs, damaged run files, ``--out`` spellings, a moved folder,
SIGKILLs and (as root, on small tmpfs mounts) full disks, and prints one line
per case and the counts. Outcomes: ``handled`` (does what docs/lola_bench.md
says), ``clear`` (an error naming the problem, no traceback
for a full disk
also a working ``--resume``), ``traceback``, ``silent`` (exit 0, but work lost
or redone, orphans left, or both runs ran). Takes 3-5 minutes.
"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

SRC = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent).resolve()
PY = sys.executable
ENV = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1",
       "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
BASE = ["--scale", "tiny", "--suite", "exact", "--seeds", "1", "--no-figures", "--workers", "1"]
results = []

def run(args, cwd=None, timeout=300):
    p = subprocess.run([PY, "-m", "lola_agents.bench.cli", *args], cwd=cwd, env=ENV,
                       capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr

def popen(args, cwd=None):
    return subprocess.Popen([PY, "-m", "lola_agents.bench.cli", *args], cwd=cwd, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

def record(name, outcome, detail=""):
    results.append((name, outcome, detail))
    print(f"{name:<42} {outcome:<10} {detail[:150]}", flush=True)

def classify_error(code, text, must_contain):
    if "Traceback" in text:
        return "traceback"
    if code != 0 and must_contain in text:
        return "clear"
    return "silent" if code == 0 else "unclear"

def mtimes(out):
    return {p.relative_to(out): p.stat().st_mtime_ns for p in (out / "runs").rglob("*.json")}

def numbers(out):
    s = json.loads((out / "summary.json").read_text())
    return {g["group"]: {k: v["per_seed"] for k, v in g["metrics"].items()} for g in s["groups"]}

tmp = Path(tempfile.mkdtemp(prefix="probe-"))
ref = tmp / "ref"
code, text = run([*BASE, "--out", str(ref)])
assert code == 0, text
REF = numbers(ref)

# 1-2 concurrent runs on one folder (started together; then started while the first runs)
for mode in ("together", "staggered"):
    out = tmp / f"conc-{mode}"
    a = popen([*BASE, "--out", str(out)])
    if mode == "staggered":
        while not (out / "runs").exists() and a.poll() is None:
            time.sleep(0.05)
    b = popen([*BASE, "--out", str(out)])
    ta, tb = a.communicate()[0], b.communicate()[0]
    codes = (a.returncode, b.returncode)
    both_ran = codes == (0, 0)
    refused = [t for c, t in zip(codes, (ta, tb), strict=True) if c != 0]
    if both_ran:
        record(f"concurrent runs ({mode})", "silent", "both processes ran every task")
    elif len(refused) == 1 and "Traceback" not in refused[0] and ("lock" in refused[0] or "another" in refused[0] or "not empty" in refused[0]):
        ok = numbers(out) == REF
        record(f"concurrent runs ({mode})", "handled" if ok else "silent", refused[0].strip().splitlines()[-1])
    else:
        record(f"concurrent runs ({mode})", "traceback" if any("Traceback" in t for t in (ta, tb)) else "unclear", f"{codes}")

# 3-9 damaged run files then --resume
def damaged(name, damage):
    out = tmp / f"dmg-{name}"
    shutil.copytree(ref, out)
    files = sorted((out / "runs").rglob("*.json"))
    victim = files[0]
    before = mtimes(out)
    damage(victim, files)
    code, text = run([*BASE, "--out", str(out), "--resume"])
    if "Traceback" in text:
        record(f"damaged run file: {name}", "traceback", text.strip().splitlines()[-1])
        return
    if code != 0:
        record(f"damaged run file: {name}", "clear" if victim.name in text else "unclear", text.strip().splitlines()[-1])
        return
    after = mtimes(out)
    rerun = [p for p in before if after.get(p) != before[p]]
    aside = [p for p in out.rglob("*") if "damaged" in p.name]
    ok = numbers(out) == REF and aside and rerun == [victim.relative_to(out)] and "damaged" in text
    record(f"damaged run file: {name}", "handled" if ok else "silent",
           f"set aside {len(aside)}, re-ran {len(rerun)}/{len(before)}, warning {'yes' if 'damaged' in text else 'no'}")

damaged("truncated", lambda v, f: v.write_text(v.read_text()[:40]))
damaged("empty", lambda v, f: v.write_text(""))
damaged("JSON list", lambda v, f: v.write_text("[1, 2]"))
damaged("dict without task", lambda v, f: v.write_text('{"metrics": {}}'))
damaged("another task's result", lambda v, f: v.write_text(f[1].read_text()))
damaged("invalid UTF-8", lambda v, f: v.write_bytes(b"\xff\xfe{"))
def as_dir(v, f):
    v.unlink()
    v.mkdir()
damaged("a folder", as_dir)

# 10-12 --out spelled differently, moved folder
def spelled(name, first, second, cwd, move=None):
    code, text = run([*BASE, "--out", first], cwd=cwd)
    assert code == 0, text
    out_now = Path(cwd, first).resolve()
    if move:
        move_to = out_now.with_name(out_now.name + "-moved")
        out_now.rename(move_to)
        out_now = move_to
    before = mtimes(out_now)
    code, text = run([*BASE, "--out", second, "--resume"], cwd=cwd)
    if "Traceback" in text:
        record(name, "traceback", text.strip().splitlines()[-1])
        return
    after = mtimes(out_now)
    rerun = sum(after.get(p) != before[p] for p in before)
    ok = code == 0 and rerun == 0 and numbers(out_now) == REF
    record(name, "handled" if ok else "silent", f"re-ran {rerun}/{len(before)} finished tasks")

d = tmp / "sp1"
d.mkdir()
spelled("--out abs, then relative from parent", str(d / "run"), "run", d)
d = tmp / "sp2"
d.mkdir()
spelled("--out rel, then with trailing slash", "run", "run/", d)
d = tmp / "sp3"
d.mkdir()
(d / "x").mkdir()
spelled("--out rel, then ./x/../run", "run", "./x/../run", d)
d = tmp / "sp4"
d.mkdir()
spelled("moved folder", "run", "run-moved", d, move=True)

# 13 parent SIGKILL with 2 workers
def children_of(pids):
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) in pids:
            found.add(int(stat.parent.name))
    return found

def alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return False

out = tmp / "orphans"
p = popen(["--scale", "tiny", "--suite", "head_to_head", "--no-figures", "--workers", "2", "--out", str(out)])
kids = set()
t0 = time.time()
while time.time() - t0 < 60:
    kids = children_of({p.pid})
    if len(kids) >= 3:
        break
    time.sleep(0.1)
time.sleep(1.0)
kids = children_of({p.pid})
p.send_signal(signal.SIGKILL)
p.wait()
time.sleep(5)
left = [k for k in kids if alive(k)]
record("SIGKILL parent with 2 workers", "silent" if left else "handled", f"{len(left)} of {len(kids)} children alive 5 s later")
for k in left:
    os.kill(k, signal.SIGKILL)

# 14 SIGKILL at random points then resume: numbers equal

rng = random.Random(0)
bad = 0
for i in range(4):
    out = tmp / f"kill{i}"
    p = popen([*BASE, "--out", str(out)])
    while not (out / "runs").exists() and p.poll() is None:
        time.sleep(0.02)
    time.sleep(rng.uniform(0, 0.6))
    p.kill()
    p.wait()
    code, text = run([*BASE, "--out", str(out), "--resume"])
    if code != 0 or numbers(out) != REF:
        bad += 1
record("SIGKILL at random points, then --resume", "handled" if bad == 0 else "traceback", f"{bad} of 4 resumes failed or differed")

# 15-18 disk full (root only)
def disk_full(name, args, leave_kb, size="400k"):
    mnt = tmp / f"full-{name.replace(' ', '-')}"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)], check=True)
    try:
        free = shutil.disk_usage(mnt).free
        filler = mnt / "filler"
        filler.write_bytes(b"\0" * max(0, free - leave_kb * 1024))
        out = mnt / "run"
        code, text = run([*args, "--out", str(out)])
        if code == 0:
            record(f"disk full: {name}", "silent", "run succeeded (space was enough)")
            return
        outcome = "traceback" if "Traceback" in text else ("clear" if str(out) in text and "space" in text.lower() else "unclear")
        filler.unlink()
        code2, text2 = run([*args, "--out", str(out), "--resume"])
        record(f"disk full: {name}", outcome if code2 == 0 else outcome + "-noresume", f"resume exit {code2} | " + text.strip().splitlines()[-1][-200:])
    finally:
        subprocess.run(["umount", str(mnt)])

if os.geteuid() == 0:
    disk_full("run JSON", ["--scale", "tiny", "--suite", "exact", "--seeds", "1", "--no-figures", "--workers", "1"], 8)
    disk_full("figures", ["--scale", "tiny", "--suite", "exact", "--seeds", "1", "--workers", "1"], 60)
    disk_full("figures (more room)", ["--scale", "tiny", "--suite", "exact", "--seeds", "1", "--workers", "1"], 110)
    disk_full("checkpoint in task", ["--scale", "tiny", "--suite", "coin", "--seeds", "1", "--no-figures", "--workers", "1"], 24, "4m")
    disk_full("checkpoint in worker", ["--scale", "tiny", "--suite", "coin", "--seeds", "1", "--no-figures", "--workers", "2"], 24, "4m")


print("\ncounts:", dict(Counter(o for _, o, _ in results)), "of", len(results), "cases")
shutil.rmtree(tmp, ignore_errors=True)

"""Shared plumbing for the benchmark scripts: fresh child processes, resource probes, tables.

Every measurement runs in a fresh child process (``run_child``), so import cost, page-cache
state, caches and peak memory of one run never leak into the next. Inside the child a
:class:`Probe` times one phase and records:

* ``wall_s``: ``time.perf_counter`` around the phase;
* ``cpu_s``: user + system CPU of the process *and of its child processes* (satchel forks a
  hashing helper; its CPU counts too), via psutil;
* ``cpu_util``: ``cpu_s / wall_s`` (above 1 means more than one core was busy);
* ``peak_rss_mb``: the process's peak resident memory during the phase (``VmHWM`` after a reset
  through ``/proc/self/clear_refs``; falls back to ``ru_maxrss`` for the whole process). It counts
  file pages a process maps (W&B maps the files it hashes), so ``peak_anon_mb``, sampled every
  10 ms from ``RssAnon``, is printed as well: that is the real memory cost;
* ``helper_peak_rss_mb``: the largest peak RSS among child processes (satchel's forked helper
  shares most of its pages with its parent, so do not add the two).

The parent aggregates repeats into medians with min and max (:func:`aggregate`), prints
readable tables (:func:`table`) and one JSON line per measurement (:func:`emit`).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

try:
    import psutil
except ImportError:  # pragma: no cover - psutil is in the bench and test extras
    psutil = None


# ----------------------------------------------------------------------------- child side
def _status(pid: int | str = "self") -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k] = v.strip()
    except OSError:
        pass
    return out


def _kb(value: str | None) -> float | None:
    return float(value.split()[0]) if value else None


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _descendants_cpu() -> dict[int, float]:
    if psutil is None:
        return {}
    out = {}
    for p in psutil.Process().children(recursive=True):
        try:
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
        except psutil.Error:
            continue
    return out


def _descendants_peak_mb() -> float:
    peaks = [0.0]
    if psutil is None:
        return 0.0
    for p in psutil.Process().children(recursive=True):
        hwm = _kb(_status(p.pid).get("VmHWM"))
        if hwm:
            peaks.append(hwm / 1024)
    return round(max(peaks), 1)


class _Sampler(threading.Thread):
    def __init__(self, interval: float = 0.01) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.max_anon_kb = 0.0
        self._stop_evt = threading.Event()

    def run(self) -> None:
        while not self._stop_evt.is_set():
            anon = _kb(_status().get("RssAnon"))
            if anon is not None:
                self.max_anon_kb = max(self.max_anon_kb, anon)
            self._stop_evt.wait(self.interval)

    def stop(self) -> float:
        self._stop_evt.set()
        self.join()
        anon = _kb(_status().get("RssAnon"))
        return max(self.max_anon_kb, anon or 0.0)


class Probe:
    """Time one phase in the current process (use as a context manager).

    After the ``with`` block, :attr:`result` holds the fields described in the module
    docstring, prefixed with ``prefix`` when one is given.
    """

    def __init__(self, prefix: str = "", *, sample: bool = True) -> None:
        """Prepare a probe; ``sample=False`` skips the RssAnon sampling thread."""
        self.prefix = prefix
        self.sample = sample
        self.result: dict[str, Any] = {}

    def __enter__(self) -> Probe:  # noqa: PYI034 - final in practice
        self._hwm_ok = _reset_hwm()
        self._ru = resource.getrusage(resource.RUSAGE_SELF)
        self._kids = _descendants_cpu()
        self._sampler = _Sampler() if self.sample else None
        if self._sampler:
            self._sampler.start()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._t0
        anon = self._sampler.stop() if self._sampler else None
        ru = resource.getrusage(resource.RUSAGE_SELF)
        kids = _descendants_cpu()
        cpu = (ru.ru_utime - self._ru.ru_utime) + (ru.ru_stime - self._ru.ru_stime)
        cpu += sum(v - self._kids.get(pid, 0.0) for pid, v in kids.items())
        if self._hwm_ok:
            peak = (_kb(_status().get("VmHWM")) or 0) / 1024
        else:
            peak = ru.ru_maxrss / 1024
        p = self.prefix
        self.result = {
            f"{p}wall_s": wall,
            f"{p}cpu_s": cpu,
            f"{p}cpu_util": cpu / wall if wall > 0 else None,
            f"{p}peak_rss_mb": round(peak, 1),
            f"{p}helper_peak_rss_mb": _descendants_peak_mb(),
        }
        if anon is not None:
            self.result[f"{p}peak_anon_mb"] = round(anon / 1024, 1)


def process_peak_rss_mb() -> float:
    """Peak resident memory of this whole process so far (``ru_maxrss``), in MiB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def child_main(run: Any) -> int:
    """Entry point of a child: read the JSON config from argv, print one JSON result line."""
    cfg = json.loads(sys.argv[sys.argv.index("--_child") + 1])
    res = run(cfg)
    print(json.dumps(_rounded(res)), flush=True)
    return 0


def _rounded(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in d.items()}


# ---------------------------------------------------------------------------- parent side
def child_env(state: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment of a child: every cache, data and temp folder inside ``state``.

    satchel's cache and store, W&B's folders, ``TMPDIR`` and the XDG homes all point below
    ``state``, W&B runs offline and silent, and satchel shows no progress bars.
    """
    env = dict(os.environ)
    for var, sub in {
        "SATCHEL_CACHE_DIR": "satchel-cache",
        "SATCHEL_STORE": "satchel-store",
        "WANDB_DIR": "wandb_dir",
        "WANDB_CACHE_DIR": "wandb_cache",
        "WANDB_DATA_DIR": "wandb_data",
        "WANDB_CONFIG_DIR": "wandb_config",
        "WANDB_ARTIFACT_DIR": "wandb_artifacts",
        "TMPDIR": "tmp",
        "XDG_CACHE_HOME": "xdg_cache",
        "XDG_DATA_HOME": "xdg_data",
    }.items():
        path = os.path.join(state, sub)
        os.makedirs(path, exist_ok=True)
        env[var] = path
    env.update(
        WANDB_MODE="offline",
        WANDB_SILENT="true",
        WANDB_DISABLE_GIT="true",
        WANDB_DISABLE_CODE="true",
        WANDB_CONSOLE="off",
        SATCHEL_NO_PROGRESS="1",
        PYTHONHASHSEED="0",
    )
    env.update(extra or {})
    return env


def run_child(
    python: str,
    script: str,
    cfg: dict[str, Any],
    env: dict[str, str],
    *,
    timeout: float = 3600,
    sync: bool = True,
) -> dict[str, Any]:
    """Run ``script --_child <cfg>`` with ``python``; return its JSON result.

    Then, with ``sync``, ``os.sync()`` so write-back of what the child wrote does not land in
    the next run. On failure the result is ``{"error": <last lines of stderr>}``.
    """
    t0 = time.perf_counter()
    try:
        cp = subprocess.run(
            [python, script, "--_child", json.dumps(cfg)],
            check=False,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    lines = [ln for ln in cp.stdout.splitlines() if ln.startswith("{")]
    if sync:
        os.sync()
    if cp.returncode != 0 or not lines:
        tail = (cp.stderr or cp.stdout).strip().splitlines()[-6:]
        return {"error": " | ".join(tail) or f"exit code {cp.returncode}"}
    res: dict[str, Any] = json.loads(lines[-1])
    res["child_wall_s"] = round(time.perf_counter() - t0, 3)
    return res


def aggregate(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Medians of numeric fields over repeats; ``*_s`` fields also get ``_min`` and ``_max``."""
    out: dict[str, Any] = {"repeat": len(runs)}
    if not runs:
        return out
    keys: list[str] = []
    for r in runs:
        keys += [k for k in r if k not in keys]
    for k in keys:
        vals = [r.get(k) for r in runs]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            med = statistics.median(vals)  # type: ignore[type-var]
            out[k] = round(med, 5) if isinstance(med, float) else med
            if k.endswith("_s"):
                out[k + "_min"] = min(vals)  # type: ignore[type-var]
                out[k + "_max"] = max(vals)  # type: ignore[type-var]
        else:
            distinct = {json.dumps(v, sort_keys=True) for v in vals}
            out[k] = vals[0] if len(distinct) == 1 else vals
    return out


def emit(record: dict[str, Any]) -> None:
    """Print one measurement as a JSON line (prefixed ``JSON `` for easy grepping)."""
    print("JSON " + json.dumps(_rounded(record), sort_keys=False), flush=True)


def fmt_s(rec: dict[str, Any], key: str = "wall_s") -> str:
    """``"0.123 s (0.120-0.130)"`` for a median with its range, or ``"-"``."""
    v = rec.get(key)
    if not isinstance(v, (int, float)):
        return "-"
    lo, hi = rec.get(key + "_min"), rec.get(key + "_max")
    if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and rec.get("repeat", 1) > 1:
        return f"{v:.3f} ({lo:.3f}-{hi:.3f})"
    return f"{v:.3f}"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table (readable as plain text too)."""
    rows = [["-" if c is None else str(c) for c in r] for r in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
    out = [line(list(headers)), "| " + " | ".join("-" * w for w in widths) + " |"]
    out += [line(r) for r in rows]
    return "\n".join(out)


def machine() -> dict[str, Any]:
    """A short description of the machine: CPUs, memory, Python, kernel, filesystem."""
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "kernel": os.uname().release,
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    if psutil is not None:
        info["mem_gib"] = round(psutil.virtual_memory().total / 2**30, 1)
    return info

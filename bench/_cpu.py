"""Per-process and whole-machine CPU accounting of bench.ingest, read from /proc (Linux)."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def proc_stat(pid: int | None) -> tuple[float, float] | None:
    """(CPU seconds user+system, peak RSS MiB) of a live process; None when it is gone or unknown."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    # The command name in field 2 may hold spaces and parentheses: count fields from after its last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    cpu = (int(fields[11]) + int(fields[12])) / _TICK
    m = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return cpu, (int(m.group(1)) / 1024 if m else 0.0)


def group_cpu_s(pids: list[int | None]) -> float | None:
    """CPU seconds of a group of processes, summed; None when any of them cannot be read (a partial sum lies)."""
    values = [proc_stat(p) for p in pids]
    return None if any(v is None for v in values) else sum(v[0] for v in values if v is not None)


def group_peak_rss_mb(pids: list[int | None]) -> float | None:
    """Sum over a group of processes of each one's peak resident set (VmHWM)."""
    values = [proc_stat(p) for p in pids]
    return None if any(v is None for v in values) else sum(v[1] for v in values if v is not None)


def machine_busy() -> tuple[float, float]:
    """CPU seconds all cores have spent busy since boot (every process, ours or not), and of that in interrupts."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]] + [0] * 8
    busy = sum(f[:8]) - f[3] - f[4]  # all but idle and iowait
    return busy / _TICK, (f[5] + f[6]) / _TICK  # irq + softirq


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds so far of named process groups, of this process and of the whole machine."""

    groups: dict[str, float | None]
    own: float
    machine: tuple[float, float]

    @classmethod
    def take(cls, groups: dict[str, list[int | None]]) -> CpuSnapshot:
        return cls({k: group_cpu_s(p) for k, p in groups.items()}, time.process_time(), machine_busy())

    def groups_since(self, before: CpuSnapshot) -> dict[str, float | None]:
        """CPU seconds each group spent since ``before`` (None where either reading failed)."""
        out: dict[str, float | None] = {}
        for k, v0 in before.groups.items():
            v1 = self.groups.get(k)
            out[k] = v1 - v0 if v0 is not None and v1 is not None else None
        return out

    def own_since(self, before: CpuSnapshot) -> float:
        return self.own - before.own


def cores(
    cpu_s: dict[str, float | None], window: float, before: CpuSnapshot, after: CpuSnapshot
) -> dict[str, float | None]:
    """Average cores used over ``window``: per process group; the whole machine; the kernel's interrupt work
    (loopback TCP is mostly softirq, charged to no process); and 'other' (the rest: processes not ours)."""
    out: dict[str, float | None] = {k: (v / window if v is not None else None) for k, v in cpu_s.items()}
    machine, irq = after.machine[0] - before.machine[0], after.machine[1] - before.machine[1]
    out["machine"] = machine / window
    out["irq"] = irq / window
    out["other"] = max(0.0, machine - irq - sum(v for v in cpu_s.values() if v is not None)) / window
    return out

/**
 * Finds the workerd process behind a Miniflare instance and reads its CPU time from /proc.
 * Local tail events report `cpuTime: 0` and `performance.now()` inside a Worker moves in whole
 * milliseconds, so the process's own counters are the only CPU figure workerd gives away locally.
 */

import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

/** Clock ticks per second, the unit of utime and stime (`man 5 proc`); 100 on every Linux we know of. */
export const CLOCK_TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

interface ProcStat {
  pid: number;
  comm: string;
  ppid: number;
  /** utime + stime of all the process's threads, in clock ticks. */
  cpuTicks: number;
}

function readStat(pid: number): ProcStat {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  // comm sits in parentheses and may itself hold spaces or parentheses: split after the last ")".
  const close = text.lastIndexOf(")");
  const comm = text.slice(text.indexOf("(") + 1, close);
  const fields = text.slice(close + 2).split(" ");
  // fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
  return { pid, comm, ppid: Number(fields[1]), cpuTicks: Number(fields[11]) + Number(fields[12]) };
}

/** utime + stime of a process, in milliseconds; resolution 1000 / CLK_TCK ms (10 ms at 100 Hz). */
export function processCpuMs(pid: number): number {
  return (readStat(pid).cpuTicks * 1000) / CLOCK_TICKS_PER_SECOND;
}

/**
 * The CPU time of all of a process's threads in ms from the scheduler's own nanosecond counters (the
 * first field of each /proc/<pid>/task/<tid>/schedstat): the quantity utime + stime count in 10 ms
 * ticks, without the ticks. A run of 1,500 cheap requests spends only ~20 ticks, so a tick either
 * way at each end was ±10 %. Null where the kernel keeps no schedstat.
 */
function threadsCpuMs(pid: number): number | null {
  let ns = 0;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
      } catch {
        // The thread exited between readdir and read: see cpuMsBetween.
      }
    }
  } catch {
    return null;
  }
  return Number.isFinite(ns) ? ns / 1e6 : null;
}

/** One reading of a process's CPU time, both ways. */
export interface CpuReading {
  ticksMs: number;
  threadsMs: number | null;
}

export function readCpu(pid: number): CpuReading {
  return { ticksMs: processCpuMs(pid), threadsMs: threadsCpuMs(pid) };
}

/** Whether this kernel gives per-thread nanosecond CPU counters (the bench then reports with them). */
export const PRECISE_CPU = threadsCpuMs(process.pid) !== null;

/**
 * CPU ms between two readings: the nanosecond sum when it agrees with the ticks within their
 * resolution (two ticks, plus 5 %), else the ticks. A thread that exits between the readings takes
 * its time out of the sum (the process's utime + stime keep it): the ticks catch that.
 */
export function cpuMsBetween(before: CpuReading, after: CpuReading): number {
  const ticks = after.ticksMs - before.ticksMs;
  if (before.threadsMs === null || after.threadsMs === null) return ticks;
  const threads = after.threadsMs - before.threadsMs;
  const tolerance = (2 * 1000) / CLOCK_TICKS_PER_SECOND + 0.05 * ticks;
  return Math.abs(threads - ticks) <= tolerance ? threads : ticks;
}

function childrenOf(parentPid: number): ProcStat[] {
  const children: ProcStat[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readStat(Number(entry));
      if (stat.ppid === parentPid) children.push(stat);
    } catch {
      // The process exited between readdir and read.
    }
  }
  return children;
}

/** The inode of the socket listening on 127.0.0.1:port, from /proc/net/tcp. */
function listeningSocketInode(port: number): string {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const columns = line.trim().split(/\s+/);
    // local_address, rem_address, st (0A = LISTEN), …, inode is column 9.
    if (columns[1] === local && columns[3] === "0A" && columns[9] !== undefined) return columns[9];
  }
  throw new Error(`Nothing listens on 127.0.0.1:${port}.`);
}

function holdsSocket(pid: number, inode: string): boolean {
  const wanted = `socket:[${inode}]`;
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === wanted) return true;
      } catch {
        // The descriptor closed meanwhile.
      }
    }
  } catch {
    return false;
  }
  return false;
}

/**
 * The pid of the workerd process that serves 127.0.0.1:port: a child of this (the Miniflare host)
 * process named `workerd` that holds the listening socket itself. Checking the socket, not only the
 * name, is what tells the instances apart when several run side by side.
 */
export function workerdPidServing(port: number): number {
  const inode = listeningSocketInode(port);
  const candidates = childrenOf(process.pid).filter((child) => child.comm === "workerd");
  const owner = candidates.find((child) => holdsSocket(child.pid, inode));
  if (owner === undefined) {
    const names = candidates.map((child) => child.pid).join(", ") || "none";
    throw new Error(`No workerd child of pid ${process.pid} holds 127.0.0.1:${port} (workerd children: ${names}).`);
  }
  return owner.pid;
}

/**
 * Waits until a process is idle: at least `minimumMs` (work it still owes, such as a queue's last
 * batch), then until two consecutive 100 ms polls see no CPU tick move. Bounded at 5 s.
 */
export async function waitUntilIdle(pid: number, minimumMs: number): Promise<void> {
  await sleep(minimumMs);
  const deadline = performance.now() + 5_000;
  let last = processCpuMs(pid);
  let quiet = 0;
  while (quiet < 2 && performance.now() < deadline) {
    await sleep(100);
    const now = processCpuMs(pid);
    quiet = now === last ? quiet + 1 : 0;
    last = now;
  }
}

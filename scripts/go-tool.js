// Builds a Go program from the Go module proxy into jml's cache, once: the Temporal CLI (the local
// Temporal server) and versitygw (the S3-compatible server the checkpoint tests publish to). Plain
// JavaScript so the bootstrap can run it before any dependency is installed.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';

/** Heavy artifacts live outside the checkout, so fresh clones (CI) reuse them. */
export function cacheDir() {
  if (process.env.JML_CACHE_DIR) return process.env.JML_CACHE_DIR;
  const base = process.env.XDG_CACHE_HOME || path.join(homedir(), '.cache');
  return path.join(base, 'jml');
}

/** @param {string} name */
export function onPath(name) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

export function goBinary() {
  return onPath('go') ?? (existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
}

/**
 * @typedef {{ label: string, module: string, version: string, folder: string, binary: string }} GoTool
 * label: for log lines; module: the package path to `go install`; folder: its cache folder's name;
 * binary: the name `go install` gives the program.
 */

/** @param {GoTool} tool */
export function cachedToolPath(tool) {
  return path.join(cacheDir(), tool.folder, tool.version, tool.binary);
}

/** @param {number} pid */
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * One build at a time per cache: a second bootstrap (another checkout, another helper) waits for
 * the first one's binary instead of compiling the same packages again on the same cores.
 * @param {string} lockDir @param {string} target @param {string} label @param {(line: string) => void} log
 * @returns {boolean} true when we hold the lock, false when another process built the binary
 */
function acquireBuildLock(lockDir, target, label, log) {
  let announced = false;
  for (;;) {
    try {
      mkdirSync(lockDir);
      writeFileSync(path.join(lockDir, 'pid'), String(process.pid));
      return true;
    } catch {
      const holder = Number(existsSync(path.join(lockDir, 'pid')) ? readFileSync(path.join(lockDir, 'pid'), 'utf8') : 0);
      if (existsSync(target)) return false;
      if (holder && !alive(holder)) {
        rmSync(lockDir, { recursive: true, force: true });
        continue;
      }
      if (!announced) log(`Another process (pid ${holder || '?'}) is building the ${label}: waiting for it.`);
      announced = true;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2000);
    }
  }
}

/**
 * Builds `tool` with Go into the cache, in two phases with one line each: module downloads
 * (`go install -n` loads every package, so it fetches every module, and compiles nothing), then
 * the build. Go's own output goes to a log file whose path is printed on failure.
 * `-trimpath -ldflags=-s -w`: no symbol table or DWARF (a smaller binary, a shorter link) and
 * reproducible paths; CGO_ENABLED=0: neither program needs C, so no C compiler runs. The build
 * goes to a temporary directory and is renamed into place, so two processes never see a
 * half-written binary.
 * @param {GoTool} tool @param {(line: string) => void} log
 * @returns {string} the binary's path
 */
export function buildGoTool(tool, log) {
  const go = goBinary();
  if (!go) throw new Error(`Go is not installed: cannot build the ${tool.label}.`);
  const target = cachedToolPath(tool);
  mkdirSync(path.dirname(target), { recursive: true });
  const lockDir = path.join(path.dirname(target), '.building');
  if (!acquireBuildLock(lockDir, target, tool.label, log)) return target;
  try {
    if (existsSync(target)) return target;
    const staging = mkdtempSync(path.join(path.dirname(target), '.build-'));
    const logFile = path.join(path.dirname(target), 'build.log');
    const logFd = openSync(logFile, 'w');
    const env = { ...process.env, GOBIN: staging, GOFLAGS: process.env.GOFLAGS ?? '-mod=mod', CGO_ENABLED: process.env.CGO_ENABLED ?? '0' };
    const module = `${tool.module}@${tool.version}`;
    const flags = ['-trimpath', '-ldflags=-s -w'];
    /** @param {string} phase @param {string[]} args */
    const phase = (phase, args) => {
      const started = Date.now();
      log(`${tool.label} ${tool.version}: ${phase}...`);
      const result = spawnSync(go, args, { env, stdio: ['ignore', logFd, logFd] });
      if (result.status !== 0) {
        closeSync(logFd);
        rmSync(staging, { recursive: true, force: true });
        const tail = readFileSync(logFile, 'utf8').trim().split('\n').slice(-5).join('\n  ');
        throw new Error(`go ${args.join(' ')} failed (exit ${result.status ?? result.signal}); full log in ${logFile}:\n  ${tail}`);
      }
      return Math.round((Date.now() - started) / 1000);
    };
    const downloading = phase('downloading Go modules (GOPROXY, once)', ['install', '-n', ...flags, module]);
    const compiling = phase('compiling with Go (a few minutes on 2 cores, once)', ['install', ...flags, module]);
    closeSync(logFd);
    renameSync(path.join(staging, tool.binary), target);
    rmSync(staging, { recursive: true, force: true });
    log(`Built the ${tool.label} into ${target}: modules ${downloading} s, compile ${compiling} s.`);
    return target;
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

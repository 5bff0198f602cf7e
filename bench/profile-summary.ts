// Where a benchmark's CPU went: reads the V8 CPU profiles that JML_BENCH_PROFILE_DIR makes each
// child write (one file per thread: a jml worker writes its main thread's and its workflow
// thread's) and prints, per file, the busy time by package or jml source file, self and inclusive.
// `--from`/`--to` (µs of the monotonic clock, as bench/burst.ts prints for its release) keep only
// the samples in that window, so start-up (bundling the workflows) does not drown the release;
// `--per N` also prints each figure divided by N (leavers).
//
//   node --import tsx bench/profile-summary.ts <dir or .cpuprofile>... [--from µs] [--to µs] [--per N] [--top 20]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';

/** The parts of the Chrome DevTools `.cpuprofile` format (what `node --cpu-prof` writes) read here. */
const profileSchema = z.object({
  nodes: z.array(
    z.object({
      id: z.number(),
      callFrame: z.object({ functionName: z.string(), url: z.string(), lineNumber: z.number() }),
      children: z.array(z.number()).optional(),
    }),
  ),
  startTime: z.number(),
  endTime: z.number(),
  samples: z.array(z.number()),
  timeDeltas: z.array(z.number()),
});
type Profile = z.infer<typeof profileSchema>;

const optionsSchema = z.object({
  from: z.coerce.number().optional(),
  to: z.coerce.number().optional(),
  per: z.coerce.number().positive().optional(),
  top: z.coerce.number().int().positive().default(20),
});

/** V8's pseudo-frames: they are what they say, not code. */
const PSEUDO = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);
const repository = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

/** A frame's package, node module or jml file; undefined for builtins without a script. */
function categoryOf(url: string): string | undefined {
  if (url === '') return undefined;
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const [scope, name] = url.slice(modules + '/node_modules/'.length).split('/');
    return scope?.startsWith('@') ? `${scope}/${name}` : scope;
  }
  if (url.startsWith('node:')) {
    if (url.includes('deps/undici')) return 'node:undici (fetch)';
    const parts = url.slice('node:'.length).split('/');
    return `node:${parts[0] === 'internal' ? parts.slice(0, 2).join('/') : parts[0]}`;
  }
  const file = url.startsWith('file://') ? new URL(url).pathname : url;
  return file.startsWith(repository) ? path.relative(repository, file) : file;
}

interface Summary {
  windowMs: number;
  busyMs: number;
  self: Map<string, number>;
  inclusive: Map<string, number>;
  functions: Map<string, number>;
}

function add(map: Map<string, number>, key: string, ms: number) {
  map.set(key, (map.get(key) ?? 0) + ms);
}

function summarise(profile: Profile, from: number, to: number): Summary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const summary: Summary = { windowMs: 0, busyMs: 0, self: new Map(), inclusive: new Map(), functions: new Map() };
  let at = profile.startTime;
  for (let index = 0; index < profile.samples.length; index++) {
    at += profile.timeDeltas[index] ?? 0;
    // A sample stands for the time until the next one.
    const ms = (profile.timeDeltas[index + 1] ?? 0) / 1000;
    if (at < from || at > to) continue;
    summary.windowMs += ms;
    const leaf = byId.get(profile.samples[index]!)!;
    const name = leaf.callFrame.functionName;
    if (PSEUDO.has(name)) {
      add(summary.self, name, ms);
      if (name !== '(idle)') summary.busyMs += ms;
      continue;
    }
    summary.busyMs += ms;
    const seen = new Set<string>();
    let selfCategory: string | undefined;
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      const frame = byId.get(id)!.callFrame;
      const category = categoryOf(frame.url);
      if (!category) continue;
      // A builtin's time (JSON.parse, a regexp) counts for the first frame with a script below it.
      selfCategory ??= category;
      if (!seen.has(category)) {
        seen.add(category);
        add(summary.inclusive, category, ms);
      }
    }
    add(summary.self, selfCategory ?? '(builtins without a caller)', ms);
    add(summary.functions, `${name || '(anonymous)'} ${categoryOf(leaf.callFrame.url) ?? '(builtin)'}:${leaf.callFrame.lineNumber + 1}`, ms);
  }
  return summary;
}

function profilesIn(paths: string[]): string[] {
  return paths.flatMap((given) =>
    statSync(given).isDirectory()
      ? readdirSync(given).filter((name) => name.endsWith('.cpuprofile')).sort().map((name) => path.join(given, name))
      : [given],
  );
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { from: { type: 'string' }, to: { type: 'string' }, per: { type: 'string' }, top: { type: 'string' } } });
const options = optionsSchema.parse(values);
if (positionals.length === 0) {
  process.stderr.write('usage: node --import tsx bench/profile-summary.ts <dir or .cpuprofile>... [--from µs] [--to µs] [--per N] [--top 20]\n');
  process.exit(2);
}

for (const file of profilesIn(positionals)) {
  const profile = profileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  const summary = summarise(profile, options.from ?? -Infinity, options.to ?? Infinity);
  if (summary.windowMs === 0) continue;
  const figure = (ms: number) =>
    `${ms.toFixed(0).padStart(8)} ms ${((100 * ms) / summary.windowMs).toFixed(1).padStart(5)}%${options.per ? ` ${(ms / options.per).toFixed(2).padStart(8)} ms/leaver` : ''}`;
  const table = (title: string, map: Map<string, number>) => [
    `  ${title}:`,
    ...[...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, options.top).map(([key, ms]) => `    ${figure(ms)}  ${key}`),
  ];
  process.stdout.write(
    [
      `${path.basename(file)}: ${(summary.windowMs / 1000).toFixed(1)} s sampled, busy ${figure(summary.busyMs).trim()}`,
      ...table('self time (builtins count for their caller)', summary.self),
      ...table('inclusive time (the category anywhere on the stack)', summary.inclusive),
      ...table('hottest functions (self)', summary.functions),
      '',
    ].join('\n'),
  );
}

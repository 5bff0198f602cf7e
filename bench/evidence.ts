// One person's evidence with a long audit trail (issue 13: "≤ 100 ms with 1,000,000 audit rows").
// Fills `--rows` integrated audit rows about `--rows / 10` people, hashed by the append path's and
// the integrator's own rules (src/audit/chain.ts) and inserted in batches rather than appended one
// transaction at a time (which would take hours); each person has a joiner's 4 rows early and a
// leaver's 6 rows later, 16 people's rows interleaved at a time, as concurrent requests write them.
// Then the background verification of the whole chain runs once, as the server's ChainVerifier
// does at start-up (it records the anchors evidence proves rows against, decision 039), and
// `buildEvidence` is timed for `--people` people picked at random: p50, p99, max. Every report
// must show all of the person's rows proven and none failed, or the script exits non-zero.
//
//   node --import tsx bench/evidence.ts [--rows 1000000] [--people 300]
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { chainHash, entryHash, GENESIS_HASH, type AuditContent } from '../src/audit/chain.js';
import { ChainVerifier } from '../src/audit/chain-verifier.js';
import { buildEvidence } from '../src/audit/evidence.js';
import { createDatabase } from '../src/db/client.js';
import { countOption, log, parseOptions } from './support/harness.js';
import { createBenchDatabase } from './support/infra.js';
import { describeMachine } from './support/machine.js';
import { seededRandom, summariseLatencies } from './support/stats.js';

const options = parseOptions(z.object({ rows: countOption(1_000_000, 100), people: countOption(300) }), ['rows', 'people']);

const JOINER = ['scim.user.created', 'lifecycle.joiner.detected', 'target.provision.succeeded', 'lifecycle.joiner.completed'];
const LEAVER = ['scim.user.patched', 'lifecycle.leaver.detected', 'target.deactivate.succeeded', 'target.deactivate.succeeded', 'target.deactivate.succeeded', 'lifecycle.leaver.completed'];
const SYSTEMS = ['rocketchat', 'mendix', 'userapi'];
const BATCH = 5000;
const AT_ONCE = 16;

const userName = (index: number) => `evidence-${index}@bench.example.com`;

/** The order rows are written in: joiners in person order, then leavers shuffled, `AT_ONCE` people interleaved. */
function* episodes(people: number): Generator<{ person: number; action: string; system: string | null }> {
  const random = seededRandom(13);
  const leavers = Array.from({ length: people }, (_, index) => index);
  for (let index = leavers.length - 1; index > 0; index--) {
    const other = Math.floor(random() * (index + 1));
    [leavers[index], leavers[other]] = [leavers[other]!, leavers[index]!];
  }
  for (const [order, actions] of [[Array.from({ length: people }, (_, index) => index), JOINER], [leavers, LEAVER]] as const) {
    for (let first = 0; first < order.length; first += AT_ONCE) {
      const group = order.slice(first, first + AT_ONCE);
      for (let step = 0; step < actions.length; step++) {
        for (const person of group) {
          const action = actions[step]!;
          yield { person, action, system: action.startsWith('target.') ? SYSTEMS[step % SYSTEMS.length]! : null };
        }
      }
    }
  }
}

const database = await createBenchDatabase();
const db = createDatabase(database.url, { poolSize: 4 });
try {
  const people = Math.ceil(options.rows / (JOINER.length + LEAVER.length));
  log(`evidence: ${people} people`);
  const identities = await db.$queryRaw<{ id: string; n: number }[]>`
    INSERT INTO identity (id, user_name, resource, updated_at)
    SELECT gen_random_uuid(), 'evidence-' || n || '@bench.example.com', '{}'::jsonb, now() FROM generate_series(0, ${people - 1}::int) AS n
    RETURNING id, split_part(split_part(user_name, '@', 1), '-', 2)::int AS n`;
  const idOf = new Array<string>(people);
  for (const { id, n } of identities) idOf[n] = id;

  log(`evidence: hashing and inserting ${options.rows} chained audit rows`);
  const fillStarted = performance.now();
  let previous = GENESIS_HASH;
  let seq = 0n;
  const start = Date.now() - options.rows * 10;
  let batch: { seq: bigint; content: AuditContent; entryHash: string; prevHash: string; hash: string }[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const rows = batch;
    batch = [];
    await db.$executeRaw`
      INSERT INTO audit_event (seq, occurred_at, actor, action, identity_id, system, data, entry_hash, chain_version, prev_hash, hash)
      SELECT seq, occurred_at, actor, action, identity_id, system, data, entry_hash, 2, prev_hash, hash
        FROM unnest(${rows.map((row) => row.seq)}::bigint[], ${rows.map((row) => row.content.occurredAt)}::timestamptz[],
          ${rows.map((row) => row.content.actor)}::text[], ${rows.map((row) => row.content.action)}::text[],
          ${rows.map((row) => row.content.identityId)}::uuid[], ${rows.map((row) => row.content.system)}::text[],
          ${rows.map((row) => JSON.stringify(row.content.data))}::jsonb[], ${rows.map((row) => row.entryHash)}::text[],
          ${rows.map((row) => row.prevHash)}::text[], ${rows.map((row) => row.hash)}::text[])
          AS r(seq, occurred_at, actor, action, identity_id, system, data, entry_hash, prev_hash, hash)`;
  };
  for (const episode of episodes(people)) {
    if (seq >= BigInt(options.rows)) break;
    seq += 1n;
    const content: AuditContent = {
      occurredAt: new Date(start + Number(seq) * 10),
      actor: episode.action.startsWith('scim.') ? 'okta' : 'system',
      action: episode.action,
      identityId: idOf[episode.person]!,
      eventId: null,
      system: episode.system,
      data: { seq: Number(seq) },
    };
    const leaf = entryHash(content);
    const hash = chainHash({ entryHash: leaf, prevHash: previous, seq });
    batch.push({ seq, content, entryHash: leaf, prevHash: previous, hash });
    previous = hash;
    if (batch.length === BATCH) await flush();
  }
  await flush();
  await db.$executeRaw`UPDATE audit_chain_head SET seq = ${seq}, hash = ${previous} WHERE id = 1`;
  await db.$executeRawUnsafe('ANALYZE audit_event');
  await db.$executeRawUnsafe('ANALYZE identity');
  const fillSeconds = (performance.now() - fillStarted) / 1000;

  log('evidence: the background verification of the whole chain (it records the anchors)');
  const verifyStarted = performance.now();
  const verification = await new ChainVerifier({ db }).verifyOnce({ full: true });
  const verifySeconds = (performance.now() - verifyStarted) / 1000;
  if (!verification?.ok) throw new Error(`the filled chain does not verify: ${JSON.stringify(verification?.firstBroken)}`);

  const random = seededRandom(42);
  const sample = Array.from({ length: options.people }, () => Math.floor(random() * people));
  // Warm-up, not counted: the pool's connections, Prisma's and PostgreSQL's plans.
  for (const person of sample.slice(0, 10)) await buildEvidence(db, userName(person));
  log(`evidence: timing ${options.people} people's evidence`);
  const latencies = new Float64Array(options.people);
  const problems: string[] = [];
  let rowsShown = 0;
  const cpu = process.cpuUsage();
  for (const [index, person] of sample.entries()) {
    const began = performance.now();
    const report = await buildEvidence(db, userName(person));
    latencies[index] = performance.now() - began;
    const { rows } = report.people[0]!;
    rowsShown += rows.checked;
    if (rows.failed.length > 0 || rows.proven !== rows.checked) problems.push(`${userName(person)}: ${rows.proven} of ${rows.checked} rows proven, ${rows.failed.length} failed`);
  }
  const used = process.cpuUsage(cpu);
  const cpuMs = (used.user + used.system) / 1000 / options.people;
  const summary = summariseLatencies(latencies);
  if (problems.length > 0) process.exitCode = 1;
  process.stdout.write(
    [
      '',
      `One person's evidence with ${options.rows} audit rows (${people} people, ~10 rows each)`,
      `machine:      ${describeMachine()}`,
      `PostgreSQL:   ${database.version} (${database.description})`,
      `fill:         ${options.rows} rows hashed and inserted in ${fillSeconds.toFixed(1)} s (set-up, not measured)`,
      `verification: the whole chain, in the background as the server does at start: ${verifySeconds.toFixed(1)} s, ${verification.rowsChecked} rows, intact; its anchors every 256 rows recorded`,
      `evidence:     ${options.people} people (${(rowsShown / options.people).toFixed(1)} rows each), one at a time: p50 ${summary.p50.toFixed(1)} ms, p99 ${summary.p99.toFixed(1)} ms, max ${summary.max.toFixed(1)} ms, ${cpuMs.toFixed(1)} ms of this process's CPU each ` +
        `(target ≤ 100 ms; re-verifying the whole chain per request, as before decision 016, would cost the ${verifySeconds.toFixed(1)} s above)`,
      problems.length === 0 ? `verdict:      every person's rows proven against a verified anchor, none failed` : `verdict:      PROBLEMS: ${problems.slice(0, 5).join('; ')}`,
      '',
    ].join('\n'),
  );
} finally {
  await db.$disconnect();
  await database.drop();
}

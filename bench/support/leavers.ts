// Waiting for leaver workflows to settle, and reading what they did, from jml's own tables.
import pg from 'pg';

// 'held' (the mass-deprovision guard) and 'waiting' (a future date) need an operator or a date,
// not time: benchmarks report them rather than wait for them.
export const OPEN_STATUSES = `('pending', 'running')`;

/** Polls until no leaver is pending or running, or the timeout passes; returns how many still are. */
export async function waitForLeavers(pool: pg.Pool, timeoutMs: number, onProgress?: (open: number) => void): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let lastReport = Date.now();
  for (;;) {
    const { rows } = await pool.query<{ open: string }>(`SELECT count(*) AS open FROM lifecycle_event WHERE kind = 'leaver' AND status IN ${OPEN_STATUSES}`);
    const open = Number(rows[0]?.open ?? 0);
    if (open === 0 || Date.now() > deadline) return open;
    if (onProgress && Date.now() - lastReport > 10_000) {
      lastReport = Date.now();
      onProgress(open);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Leaver events and their target actions by status, for events created at or after `since`. */
export async function leaverStatusCounts(pool: pg.Pool, since: Date): Promise<{ events: Record<string, number>; targets: Record<string, number> }> {
  const events = await pool.query<{ status: string; n: string }>(
    `SELECT status, count(*) AS n FROM lifecycle_event WHERE kind = 'leaver' AND created_at >= $1 GROUP BY status ORDER BY status`,
    [since],
  );
  const targets = await pool.query<{ status: string; n: string }>(
    `SELECT t.status, count(*) AS n FROM target_action t JOIN lifecycle_event e ON e.id = t.event_id
      WHERE e.kind = 'leaver' AND e.created_at >= $1 GROUP BY t.status ORDER BY t.status`,
    [since],
  );
  const byStatus = (rows: { status: string; n: string }[]) => Object.fromEntries(rows.map((row) => [row.status, Number(row.n)]));
  return { events: byStatus(events.rows), targets: byStatus(targets.rows) };
}

export function describeCounts(counts: Record<string, number>): string {
  const entries = Object.entries(counts);
  return entries.length === 0 ? 'none' : entries.map(([status, n]) => `${n} ${status}`).join(', ');
}

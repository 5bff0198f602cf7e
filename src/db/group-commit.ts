// Group commit: writes handed in while an earlier write is in flight wait for it, then go to the
// database together in the next statement, as PostgreSQL's own commit_delay groups WAL flushes.
// No timer: a write that finds nothing in flight goes at once, so a lone caller waits no longer
// than it would have alone, and concurrent callers pay one round trip per batch instead of one each.
// Each caller still awaits its own write's answer before going on (a mass-release page's account
// reads its target back only once its outcome is committed, decision 048).
// A batch is one statement, so one bad item fails it whole: then each item is written again alone,
// and only the item that fails alone fails its caller. Only then: when PostgreSQL's answer proves
// the statement did not commit (errors.ts, statementRolledBack). A batch whose answer was lost (the
// connection dropped, the server shut down) may have committed, and an item written again could
// be recorded twice (decision 063): each caller gets the error, as it would have alone, and its
// retry reads what was written.

import { statementRolledBack } from './errors.js';

/** Writes each item with `flush` (many at once; it answers per item, in order). */
export function groupCommit<Item, Answer>(flush: (items: Item[]) => Promise<Answer[]>): (item: Item) => Promise<Answer> {
  let waiting: { item: Item; resolve: (answer: Answer) => void; reject: (error: unknown) => void }[] = [];
  let flushing = false;
  const drain = async () => {
    flushing = true;
    while (waiting.length > 0) {
      const batch = waiting;
      waiting = [];
      try {
        const answers = await flush(batch.map((entry) => entry.item));
        batch.forEach((entry, index) => entry.resolve(answers[index]!));
      } catch (error) {
        if (batch.length === 1 || !statementRolledBack(error)) batch.forEach((entry) => entry.reject(error));
        // Rolled back whole: each item goes again alone, as its caller would have sent it without grouping.
        else await Promise.all(batch.map(async (entry) => flush([entry.item]).then(([answer]) => entry.resolve(answer!), entry.reject)));
      }
    }
    flushing = false;
  };
  return (item) =>
    new Promise<Answer>((resolve, reject) => {
      waiting.push({ item, resolve, reject });
      if (!flushing) void drain();
    });
}

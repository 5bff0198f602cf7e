// The CPU that one database's PostgreSQL backends have used (Linux /proc, a server on this
// machine), for figures that must compare on a busy machine: a rate swings with the other load,
// the CPU a write costs much less (decision 058).
import { readFileSync } from 'node:fs';
import pg from 'pg';

/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s on every common platform. */
const TICKS_PER_SECOND = 100;

export interface BackendCpu {
  /** Microseconds of CPU used so far by the backends connected to the database now; undefined where /proc cannot be read. */
  read(): Promise<number | undefined>;
  close(): Promise<void>;
}

export async function backendCpu(databaseUrl: string): Promise<BackendCpu> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  return {
    async read() {
      const { rows } = await client.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
      let ticks = 0;
      for (const { pid } of rows) {
        try {
          // Fields 14 and 15 (utime, stime), counted after the command name's closing parenthesis.
          const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
          ticks += Number(fields[11]) + Number(fields[12]);
        } catch {
          return undefined;
        }
      }
      return (ticks * 1_000_000) / TICKS_PER_SECOND;
    },
    close: () => client.end(),
  };
}

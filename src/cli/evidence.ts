// `jml evidence <userName or id>`: one person's whole story, for an auditor (src/audit/evidence.ts).
import type { Database } from '../db/client.js';
import { buildEvidence, evidenceJson, evidenceText, PersonNotFound } from '../audit/evidence.js';
import type { Output } from './events.js';

export const EVIDENCE_USAGE = `Usage: jml evidence <userName or SCIM id> [--format text|json]
`;

const processOutput: Output = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** Exit codes: 0 the report (even when its rows fail verification: the report says so), 1 nobody by that name, 2 bad arguments. */
export async function evidenceCommand(db: Database, args: { subject?: string; format?: string }, io: Output = processOutput): Promise<number> {
  const format = args.format ?? 'text';
  if (!args.subject || (format !== 'text' && format !== 'json')) {
    io.err(EVIDENCE_USAGE);
    return 2;
  }
  try {
    const report = await buildEvidence(db, args.subject);
    io.out(format === 'json' ? `${JSON.stringify(evidenceJson(report), null, 2)}\n` : evidenceText(report));
    return 0;
  } catch (error) {
    if (!(error instanceof PersonNotFound)) throw error;
    io.err(`${error.message}\n`);
    return 1;
  }
}

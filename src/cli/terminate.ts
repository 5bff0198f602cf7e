// `jml terminate <person> --reason "..."`: the operator API's terminate-now from a shell
// (src/hr/terminate.ts). The person is named by SCIM id, userName, externalId, employee number
// or email (src/hr/person.ts).
import { z } from 'zod';
import type { Principal } from '../auth/tokens.js';
import { findPerson } from '../hr/person.js';
import { terminateNow, type TerminateResult } from '../hr/terminate.js';
import type { ScimDependencies } from '../scim/users.js';
import type { Output } from './events.js';
import { defaultOperator } from './operator.js';

export const TERMINATE_USAGE = `Usage: jml terminate <person> --reason "<why>" [--as <operator>] [--json]
  Deactivates the person in jml and every system now, superseding a future termination date.
  <person>: SCIM id, userName, externalId, employee number or email.
`;

const processOutput: Output = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

function resultText(result: TerminateResult): string {
  const lines = [
    result.outcome === 'terminated'
      ? `Terminated ${result.userName} (${result.identityId}) as ${result.by}: ${result.reason}`
      : `${result.userName} (${result.identityId}) is inactive already: nothing changed, the request is recorded.`,
  ];
  if (result.supersededTerminationDate) lines.push(`Superseded the termination date ${result.supersededTerminationDate}.`);
  if (result.leaver) lines.push(`Leaver ${result.leaver.id}: ${result.leaver.status} (workflow ${result.leaver.workflowId}); the running jml starts it within its outbox poll interval.`);
  else lines.push('No leaver: the person has no account jml manages.');
  return `${lines.join('\n')}\n`;
}

/** Exit codes: 0 done, 1 refused (unknown or ambiguous person), 2 bad arguments. */
export async function terminateCommand(
  intake: ScimDependencies,
  args: { subject?: string; reason?: string; as?: string; json?: boolean },
  io: Output = processOutput,
): Promise<number> {
  if (!args.subject || args.reason === undefined) {
    io.err(TERMINATE_USAGE);
    return 2;
  }
  const principal: Principal = { tokenId: 'cli', name: args.as ?? defaultOperator(), kind: 'operator' };
  try {
    const person = await findPerson(intake.db, args.subject);
    const result = await terminateNow(intake, { identityId: person.id, reason: args.reason, principal });
    io.out(args.json ? `${JSON.stringify(result, null, 2)}\n` : resultText(result));
    return 0;
  } catch (error) {
    if (error instanceof z.ZodError) {
      io.err(`Invalid arguments:\n${error.issues.map((issue) => `  --${issue.path.join('.') || 'reason'}: ${issue.message}`).join('\n')}\n`);
      return 2;
    }
    const name = (error as Error | null)?.name;
    if (name === 'UnknownPerson' || name === 'AmbiguousPerson') {
      io.err(`${(error as Error).message}\n`);
      return 1;
    }
    throw error;
  }
}

// Who runs a CLI command, for the audit trail when --as is not given. A module of its own so that
// a command needs no other command's modules for it (issue 17).
import { userInfo } from 'node:os';

/** The OS user, or USER/USERNAME where the account has no passwd entry (some containers). */
export function defaultOperator(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? process.env.USERNAME ?? 'operator';
  }
}

// Records the histories of the workflows a test system ran, for the replay test
// (test/workflows/replay.test.ts). Off unless JML_RECORD_HISTORIES names a folder:
//
//   JML_RECORD_HISTORIES=/tmp/histories npx vitest run test/lifecycle/mass-release.e2e.test.ts
//
// writes one file per closed workflow run, `<workflow type>-<workflow id>-<run>.json`, stored as the
// replay test reads them (protobufjs's JSON of the History). A history is committed only after the
// scenario it shows is named in the replay test's header: it is what a workflow started by that
// version of the code did, which every later version must replay unchanged or behind patched().
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';

/** The folder histories are recorded in, when asked. */
export const recordHistoriesTo = (): string | undefined => process.env.JML_RECORD_HISTORIES || undefined;

/** Writes every closed workflow run on `taskQueue` into `directory`; answers the files written. */
export async function recordHistories(client: Client, taskQueue: string, directory: string): Promise<string[]> {
  mkdirSync(directory, { recursive: true });
  const written: string[] = [];
  // Visibility: the dev server answers a TaskQueue query for every run, continued-as-new ones too.
  for await (const execution of client.workflow.list({ query: `TaskQueue = '${taskQueue}' AND ExecutionStatus != 'Running'` })) {
    const history = await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
    const file = path.join(directory, `${execution.type}-${execution.workflowId}-${execution.runId.slice(-8)}.json`.replace(/[^\w.-]+/g, '_'));
    writeFileSync(file, JSON.stringify(history));
    written.push(file);
  }
  return written;
}

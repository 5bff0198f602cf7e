// The intake for commands that change people from a shell (`jml terminate`, `jml hr import`): the
// same lifecycle settings the server reads, from the same environment. The running jml's outbox
// relay starts the workflows within its poll interval (JML_OUTBOX_POLL_MS).
import { ConfigError, type Environment } from '../config.js';
import { createConnectors, parseConnectorsConfig } from '../connectors/config.js';
import type { SystemName } from '../connectors/types.js';
import type { Database } from '../db/client.js';
import { loadPolicy } from '../lifecycle/policy.js';
import { lifecycleSettingsOf } from '../lifecycle/settings.js';
import type { ScimDependencies } from '../scim/users.js';

export function shellIntake(db: Database, environment: Environment, raw: NodeJS.ProcessEnv): ScimDependencies {
  const systems = Object.keys(createConnectors(parseConnectorsConfig(raw))) as SystemName[];
  // Without the server's connector settings a leaver would be recorded with nothing to deactivate.
  if (systems.length === 0) {
    throw new ConfigError('No downstream system is configured in this shell: run the command with the environment jml runs with (ROCKETCHAT_URL, MENDIX_URL, USERAPI_URL ...), or use the operator API or page');
  }
  return { db, lifecycle: lifecycleSettingsOf(environment, systems, loadPolicy(environment.JML_POLICY_FILE)), onOutboxWritten: () => {} };
}

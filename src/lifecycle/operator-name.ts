// The name an operator action records as its actor (the audit row's), checked where each action
// starts. A leaf of its own: reading reconciliation findings (`jml reconcile show`) needs it and
// none of the operations module's transitions, whose imports reach the SCIM library.
import { z } from 'zod';

export const operatorNameSchema = z.string().trim().min(1).max(200);

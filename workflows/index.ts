// The workflow bundle's entry point: every workflow the worker runs is exported here.
export { lifecycleWorkflow } from './lifecycle.js';
export { idleSweepWorkflow } from './idle-sweep.js';
export { reconcileWorkflow } from './reconcile.js';
export { massReleaseWorkflow } from './mass-release.js';

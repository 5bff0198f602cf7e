// The signals the workflows accept and the query they answer. Apart from ./contract.ts because
// they need the SDK's definers: only workflow code imports this file, so the application's own
// modules (src/) reach the contract without loading the Temporal SDK. The names ('approve',
// 'reject', ...) are what the outbox relay signals (src/lifecycle/transitions.ts writes them).
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { LifecyclePhase } from './contract.js';

/** An operator released a leaver the mass-deprovision guard held. */
export const approveSignal = defineSignal<[{ by: string }]>('approve');
/** An operator refused a held leaver: nothing is sent downstream. */
export const rejectSignal = defineSignal<[{ by: string; reason?: string }]>('reject');
/** The change now takes effect at another time (a changed termination date, or now). */
export const rescheduleSignal = defineSignal<[{ effectiveAt: string; by: string }]>('reschedule');
/** The change no longer applies (a rehire, or a termination date withdrawn) before it took effect. */
export const cancelSignal = defineSignal<[{ by: string; reason: string }]>('cancel');

export const phaseQuery = defineQuery<{ phase: LifecyclePhase; effectiveAt?: string }>('phase');

// The kinds of reconciliation finding (prisma/schema.prisma, ReconcileFindingKind). A leaf of its
// own: reading findings (`jml reconcile show`) needs them, not the reconciliation that finds them.
export const FINDING_KINDS = ['drift', 'orphan', 'disabled_active'] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

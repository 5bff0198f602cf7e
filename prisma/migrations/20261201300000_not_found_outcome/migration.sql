-- "The system knows no such account" is its own outcome, never a success (issue 14). Renamed in
-- place, so every existing target keeps its meaning: audit rows keep the name they were written with.
ALTER TYPE "action_status" RENAME VALUE 'account_not_found' TO 'not_found';

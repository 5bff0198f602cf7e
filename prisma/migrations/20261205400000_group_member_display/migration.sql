-- A group member's `display` as the client sent it (RFC 7643 §2.4: `display` is immutable, set
-- when the value is added and never updated by the provider). NULL when the client sent none:
-- then the member is shown with the user's display name, as before.
ALTER TABLE "group_member" ADD COLUMN "display" TEXT;

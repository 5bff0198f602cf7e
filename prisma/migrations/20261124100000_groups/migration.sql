-- CreateTable
CREATE TABLE "scim_group" (
    "id" UUID NOT NULL,
    "display_name" TEXT NOT NULL,
    "external_id" TEXT,
    "resource" JSONB NOT NULL,
    "version" INTEGER NOT NULL DEFAULT 1,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,
    "deleted_at" TIMESTAMPTZ(3),

    CONSTRAINT "scim_group_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "group_member" (
    "group_id" UUID NOT NULL,
    "identity_id" UUID NOT NULL,
    "added_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "group_member_pkey" PRIMARY KEY ("group_id","identity_id")
);

-- CreateIndex
CREATE INDEX "scim_group_external_id_idx" ON "scim_group"("external_id");

-- CreateIndex
CREATE INDEX "group_member_identity_id_idx" ON "group_member"("identity_id");

-- AddForeignKey
ALTER TABLE "group_member" ADD CONSTRAINT "group_member_group_id_fkey" FOREIGN KEY ("group_id") REFERENCES "scim_group"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "group_member" ADD CONSTRAINT "group_member_identity_id_fkey" FOREIGN KEY ("identity_id") REFERENCES "identity"("id") ON DELETE RESTRICT ON UPDATE CASCADE;


-- Hand-written: indexes Prisma's schema language cannot express.

-- displayName is deliberately NOT unique. RFC 7643 §4.2 and its schema (§8.7.1) give it
-- uniqueness "none", and Entra ID and Okta both allow two groups of the same name (they tell
-- them apart by object id). A unique index would turn the second group's POST into a 409 the
-- identity provider cannot resolve. This index only serves the case-insensitive filters
-- identity providers match groups with (displayName eq and sw, RFC 7644 §3.4.2.2).
CREATE INDEX "scim_group_display_name_pattern_live_idx" ON "scim_group" (lower("display_name") text_pattern_ops) WHERE "deleted_at" IS NULL;

-- userName sw "..." becomes lower(user_name) LIKE 'prefix%', which the unique index on
-- lower(user_name) cannot serve unless the database collation is C. text_pattern_ops can.
CREATE INDEX "identity_user_name_pattern_live_idx" ON "identity" (lower("user_name") text_pattern_ops) WHERE "deleted_at" IS NULL;

-- Each SCIM token belongs to a client profile (docs/decisions/030-client-profiles.md).
CREATE TYPE "client_profile" AS ENUM ('okta', 'entra', 'onelogin', 'jumpcloud', 'google', 'generic');

ALTER TABLE "api_token" ADD COLUMN "profile" "client_profile" NOT NULL DEFAULT 'generic';

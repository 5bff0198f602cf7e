// jml's own SCIM schema extension for Users (RFC 7643 §3.3): lifecycle attributes the core and
// EnterpriseUser schemas lack. Advertised in /Schemas and /ResourceTypes like any other.
import SCIMMY from 'scimmy';

// scimmy only accepts schema ids under urn:ietf:params:scim:schemas: (types.js, SchemaDefinition).
export const LIFECYCLE_USER_URN = 'urn:ietf:params:scim:schemas:extension:jml:2.0:User';

export const LifecycleUserExtension = new SCIMMY.Types.SchemaDefinition(
  'LifecycleUser',
  LIFECYCLE_USER_URN,
  'Lifecycle attributes of a person, read by jml',
  [
    new SCIMMY.Types.Attribute('dateTime', 'terminationDate', {
      description:
        'When the person leaves. A future date schedules the leaver for that moment (the identity stays active until then); ' +
        'a past date makes the person a leaver now; removing it before the date cancels the scheduled leaver.',
      mutable: true,
      returned: true,
    }),
  ],
);

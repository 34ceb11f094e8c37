// The tenant label: the one copy every pillar reads. The tenancy controller puts it on a
// tenant's namespaces; a tenant is known by its namespace, never by what it writes on its
// own objects, so pillars look the label up on the namespace.

export const TENANT_LABEL = "tenancy.centaurus.io/tenant";

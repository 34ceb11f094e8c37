// The static users of a local control plane: who they are and which groups they are in.
// Tokens are random per cluster; these are only the identities.

export interface LocalUser {
  name: string;
  groups: string[];
}

export const ADMIN_USER = "admin";

export const LOCAL_USERS: readonly LocalUser[] = [
  { name: ADMIN_USER, groups: ["system:masters"] },
  // Control-plane components run under their own names so the bootstrap RBAC roles apply.
  // The controller manager runs every controller under one identity here (no per-controller
  // service-account credentials), so it needs the rights of all of them together.
  { name: "system:kube-controller-manager", groups: ["system:masters"] },
  { name: "system:kube-scheduler", groups: [] },
  // kwok writes node and pod status for every fake node; it stands in for all kubelets.
  { name: "kwok", groups: ["system:masters"] },
  // Test users: tenant admins and ordinary tenant members, with no rights until RBAC grants them.
  { name: "tenant-a-admin", groups: ["tenant-a:admins"] },
  { name: "tenant-b-admin", groups: ["tenant-b:admins"] },
  { name: "tenant-a-user", groups: ["tenant-a:users"] },
  { name: "tenant-b-user", groups: ["tenant-b:users"] },
  { name: "developer", groups: [] },
];

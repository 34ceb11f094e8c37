// Kubernetes label selectors (metav1.LabelSelector), the one implementation every pillar uses.
//
// `{}` selects everything, as the API server reads it. What an *absent* selector means differs
// by API (a NetworkPolicy peer without podSelector, a placement without clusterSelector), so
// callers decide that themselves and say so where they call this.

export interface LabelSelectorRequirement {
  key: string;
  operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

/** Every matchLabels pair and every expression must hold; an unknown operator matches nothing. */
export function selectorMatches(
  selector: LabelSelector,
  labels: Readonly<Record<string, string>> | undefined = {},
): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[k] !== v) return false;
  }
  return (selector.matchExpressions ?? []).every((req) => requirementHolds(req, labels));
}

function requirementHolds(req: LabelSelectorRequirement, labels: Readonly<Record<string, string>>): boolean {
  const has = Object.hasOwn(labels, req.key);
  const values = req.values ?? [];
  switch (req.operator) {
    case "In":
      return has && values.includes(labels[req.key] as string);
    case "NotIn":
      return !has || !values.includes(labels[req.key] as string);
    case "Exists":
      return has;
    case "DoesNotExist":
      return !has;
    default:
      return false;
  }
}

/** The selector in the API server's query syntax (`a=b,c in (d,e),!f`), for list/watch calls. */
export function selectorString(selector: LabelSelector): string {
  const parts = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const r of selector.matchExpressions ?? []) {
    const values = (r.values ?? []).join(",");
    if (r.operator === "In") parts.push(`${r.key} in (${values})`);
    else if (r.operator === "NotIn") parts.push(`${r.key} notin (${values})`);
    else if (r.operator === "Exists") parts.push(r.key);
    else if (r.operator === "DoesNotExist") parts.push(`!${r.key}`);
  }
  return parts.join(",");
}

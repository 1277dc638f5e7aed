/**
 * Which groups an OTLP export writes: one per resource, keyed as Prometheus names an OTLP target.
 *
 * - `job` is `service.namespace/service.name`, or `service.name` alone; a resource without
 *   `service.name` is `unknown_service`, the name OpenTelemetry SDKs give such a service.
 * - `instance` is `service.instance.id`, or `""`.
 * - The other resource attributes become labels of a `target_info` gauge of value 1.
 *
 * Resources with the same job and instance (a collector may split one) share one group.
 */
import type { MetricFamily } from '../exposition/types.js';
import { attributeLabels, attributeMap, mapResourceMetrics } from '../exposition/otlp/to-families.js';
import type { PbExportRequest, PbResourceMetrics } from '../exposition/otlp/wire.js';
import { groupingKeyFromLabels, type GroupingKey } from './grouping-key.js';

export const TARGET_INFO = 'target_info';
const SERVICE_NAME = 'service.name';
const SERVICE_NAMESPACE = 'service.namespace';
const SERVICE_INSTANCE_ID = 'service.instance.id';
const UNKNOWN_SERVICE = 'unknown_service';

export interface OtlpGroupPush {
  readonly key: GroupingKey;
  readonly families: MetricFamily[];
  /** The delta families: added to the stored values. */
  readonly addFamilies: ReadonlySet<string>;
  /** Points mapped into this group's families (target_info not counted). */
  readonly points: number;
}

export interface OtlpPlan {
  readonly groups: OtlpGroupPush[];
  /** Points refused while mapping, and why (the first few reasons). */
  readonly rejected: number;
  readonly reasons: string[];
}

/** The grouping key of a resource's attributes. */
export function otlpGroupingKey(attributes: ReadonlyMap<string, string>): GroupingKey {
  const name = attributes.get(SERVICE_NAME) || UNKNOWN_SERVICE;
  const namespace = attributes.get(SERVICE_NAMESPACE);
  const job = namespace ? `${namespace}/${name}` : name;
  return groupingKeyFromLabels({ job, instance: attributes.get(SERVICE_INSTANCE_ID) ?? '' });
}

/** Plans the groups of one export request. Pure: nothing is checked against the store. */
export function planOtlpPushes(request: PbExportRequest, options: { readonly utf8Names: boolean }): OtlpPlan {
  const byKey = new Map<string, { key: GroupingKey; resource: PbResourceMetrics }>();
  for (const resource of request.resourceMetrics ?? []) {
    const key = otlpGroupingKey(attributeMap(resource.resource?.attributes));
    const seen = byKey.get(key.id);
    if (seen) {
      seen.resource = { ...seen.resource, scopeMetrics: [...(seen.resource.scopeMetrics ?? []), ...(resource.scopeMetrics ?? [])] };
    } else byKey.set(key.id, { key, resource });
  }
  const groups: OtlpGroupPush[] = [];
  let rejected = 0;
  const reasons: string[] = [];
  for (const { key, resource } of byKey.values()) {
    const mapped = mapResourceMetrics(resource, options);
    rejected += mapped.rejected;
    for (const reason of mapped.reasons) if (!reasons.includes(reason)) reasons.push(reason);
    if (mapped.families.length === 0) continue;
    const families = mapped.families;
    const info = new Map([...mapped.attributes].filter(([k]) => k !== SERVICE_NAME && k !== SERVICE_NAMESPACE && k !== SERVICE_INSTANCE_ID));
    if (info.size > 0 && !families.some((f) => f.name === TARGET_INFO)) {
      families.push({ name: TARGET_INFO, help: 'Target metadata', type: 'gauge', metrics: [{ labels: attributeLabels(info, options.utf8Names), value: 1 }] });
    }
    groups.push({ key, families, addFamilies: mapped.addFamilies, points: mapped.points });
  }
  return { groups, rejected, reasons };
}

/**
 * The group without its delta histograms, for a second attempt after the store refused the group:
 * a delta histogram whose bounds differ from the stored ones cannot be added, and refusing only
 * its points (partial success) keeps the rest of the export. Undefined when the group has no delta
 * histogram or nothing but target_info would remain.
 */
export function withoutDeltaHistograms(group: OtlpGroupPush): { group: OtlpGroupPush; refusedPoints: number; names: string[] } | undefined {
  const removed = group.families.filter((f) => group.addFamilies.has(f.name) && f.type === 'histogram');
  if (removed.length === 0) return undefined;
  const families = group.families.filter((f) => !removed.includes(f));
  if (families.every((f) => f.name === TARGET_INFO)) return undefined;
  const refusedPoints = removed.reduce((n, f) => n + f.metrics.length, 0);
  const addFamilies = new Set([...group.addFamilies].filter((name) => !removed.some((f) => f.name === name)));
  return { group: { ...group, families, addFamilies, points: group.points - refusedPoints }, refusedPoints, names: removed.map((f) => f.name) };
}

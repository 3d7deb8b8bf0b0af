// What every row needs from the OTel resource: the experiment id and, for spans, the resource's
// attributes as JSON (which went through TelemetryPolicy before). Computed once per resource
// object (a process normally has one), not per row.

import type { Resource } from '@opentelemetry/resources';
import { EXPERIMENT_ID_ATTRIBUTE } from '../shared/conventions.js';
import { jsonField } from './copyText.js';

export interface ResourceInfo {
  experimentId: string;
  /** COPY-encoded jsonb of the resource attributes. */
  resourceJson: string;
}

export class ResourceInfoCache {
  private readonly cache = new WeakMap<Resource, ResourceInfo>();

  /** @param fallbackExperimentId used when the resource does not name an experiment */
  constructor(private readonly fallbackExperimentId: string | undefined) {}

  get(resource: Resource): ResourceInfo {
    let info = this.cache.get(resource);
    if (!info) {
      const attributes = resource.attributes;
      const fromResource = attributes[EXPERIMENT_ID_ATTRIBUTE] ?? attributes['service.instance.id'];
      const experimentId =
        this.fallbackExperimentId ??
        (typeof fromResource === 'string' ? fromResource : undefined) ??
        'default';
      info = {
        experimentId,
        resourceJson: jsonField(attributes),
      };
      this.cache.set(resource, info);
    }
    return info;
  }
}

import { Injectable } from '@nestjs/common';
import { CapacityQueries } from '#application';
import type { CapacityResponse } from './dto/capacity.response.js';

/** Capacity per GPU model, over CapacityQueries (libs/application/src/pool). */
@Injectable()
export class CapacityService {
  constructor(private readonly queries: CapacityQueries) {}

  capacity(now: Date = new Date()): Promise<CapacityResponse> {
    return this.queries.capacityAt(now);
  }
}

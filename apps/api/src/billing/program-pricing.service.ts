import { Injectable } from '@nestjs/common';
import { ProgramPricingUseCases, type ProgramPricingView } from '#application';
import type { Principal } from '../auth/principal.js';
import type { PricingPolicyRequest } from './dto/pricing-policy.request.js';
import { pricingPolicyView, type PricingPolicyResponse } from './dto/pricing-policy.response.js';

/** Programs' pricing policies (ProgramPricingUseCases), as responses. */
@Injectable()
export class ProgramPricingService {
  constructor(private readonly pricing: ProgramPricingUseCases) {}

  async get(principal: Principal, programId: string): Promise<PricingPolicyResponse> {
    return viewOf(await this.pricing.get(principal, programId));
  }

  async replace(
    principal: Principal,
    programId: string,
    body: PricingPolicyRequest,
    requestId: string | null,
  ): Promise<PricingPolicyResponse> {
    return viewOf(await this.pricing.replace({ principal, programId, policy: body, requestId }));
  }
}

function viewOf(view: ProgramPricingView): PricingPolicyResponse {
  return pricingPolicyView(view.programId, view.policy, view.updated);
}

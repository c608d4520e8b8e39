import { Body, Controller, Get, Param, Put } from '@nestjs/common';
import { ApiBearerAuth, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, RequestId, Roles } from '../auth/decorators.js';
import type { Principal } from '../auth/principal.js';
import { idParams } from '../common/ids.js';
import { pricingPolicyRequest, type PricingPolicyRequest } from './dto/pricing-policy.request.js';
import { pricingPolicyResponse } from './dto/pricing-policy.response.js';
import { ProgramPricingService } from './program-pricing.service.js';

@ApiTags('billing')
@ApiBearerAuth()
@Controller('v1/programs')
export class ProgramPricingController {
  constructor(private readonly pricing: ProgramPricingService) {}

  @Roles('admin', 'finance')
  @Get(':id/pricing')
  @ApiOperation({
    summary: "A program's pricing policy as it prices now (admins, finance; agency finance: own programs)",
  })
  @ApiOkResponse({ standardSchema: pricingPolicyResponse })
  @ApiNotFoundResponse({ description: 'Unknown, or a program of another agency.' })
  get(@CurrentPrincipal() principal: Principal, @Param({ schema: idParams }) params: { id: string }) {
    return this.pricing.get(principal, params.id);
  }

  @Roles('admin')
  @Put(':id/pricing')
  @ApiOperation({
    summary: "Replace a program's pricing policy (admin, audited)",
    description:
      'Discounts per organization type (successive, in basis points: youth startups [3000, 5000] pay 35% of ' +
      'list), VAT rate, payer and base, and rounding rules. Subsidies are the program’s own subsidyRates. ' +
      'Without a policy a program prices with the Korean voucher default. Applies to periods closed from now ' +
      'on; corrections of a closed period reuse the policy that period was priced with. ' +
      '400 INVALID_PRICING_POLICY lists every problem and changes nothing.',
  })
  @ApiOkResponse({ standardSchema: pricingPolicyResponse })
  replace(
    @CurrentPrincipal() principal: Principal,
    @Param({ schema: idParams }) params: { id: string },
    @Body({ schema: pricingPolicyRequest }) body: PricingPolicyRequest,
    @RequestId() requestId: string | null,
  ) {
    return this.pricing.replace(principal, params.id, body, requestId);
  }
}

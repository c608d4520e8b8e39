import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Param, Post, Query } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { CurrentPrincipal, RequestId } from '../auth/decorators.js';
import type { Principal } from '../auth/principal.js';
import { idParams } from '../common/ids.js';
import {
  createWebhookRequest,
  listDeliveriesQuery,
  listWebhooksQuery,
  type CreateWebhookRequest,
  type ListDeliveriesQuery,
  type ListWebhooksQuery,
} from './dto/webhook.request.js';
import {
  createdWebhookResponse,
  deliveryPageResponse,
  webhookPageResponse,
  webhookResponse,
  toDeliveryResponse,
  toWebhookResponse,
} from './dto/webhook.response.js';
import { WebhookSubscriptionsUseCase } from '#application';

const ACCESS =
  "A project's PI or an admin manages its webhooks (PI_REQUIRED for other members); platform-wide ones are admins' (ADMIN_REQUIRED).";

@ApiTags('webhooks')
@ApiBearerAuth()
@Controller('v1/webhooks')
export class WebhooksController {
  constructor(private readonly webhooks: WebhookSubscriptionsUseCase) {}

  @Post()
  @ApiOperation({
    summary: 'Subscribe a URL to notifications (a project PI for the project; admins also platform-wide)',
    description:
      'Each notification is POSTed as JSON with `Gpupool-Event`, `Gpupool-Delivery` and ' +
      '`Gpupool-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`; a non-2xx ' +
      'answer is retried with exponential backoff (2 s doubling, at most 1 h) up to 8 attempts.',
  })
  @ApiCreatedResponse({
    standardSchema: createdWebhookResponse,
    description: 'The signing secret is shown this once; store it now.',
  })
  @ApiForbiddenResponse({ description: ACCESS })
  create(
    @CurrentPrincipal() principal: Principal,
    @Body({ schema: createWebhookRequest }) body: CreateWebhookRequest,
    @RequestId() requestId: string | null,
  ) {
    return this.webhooks.create({ principal, requestId }, body);
  }

  @Get()
  @ApiOperation({ summary: 'Webhook subscriptions the caller manages (never their secrets)' })
  @ApiOkResponse({ standardSchema: webhookPageResponse })
  async list(
    @CurrentPrincipal() principal: Principal,
    @Query({ schema: listWebhooksQuery }) query: ListWebhooksQuery,
  ) {
    const page = await this.webhooks.list(principal, query);
    return { items: page.items.map(toWebhookResponse), nextCursor: page.nextCursor };
  }

  @Get(':id')
  @ApiOkResponse({ standardSchema: webhookResponse })
  @ApiNotFoundResponse({ description: 'Unknown, or of a project the caller may not see.' })
  async get(@CurrentPrincipal() principal: Principal, @Param({ schema: idParams }) params: { id: string }) {
    return toWebhookResponse(await this.webhooks.get(principal, params.id));
  }

  @Delete(':id')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Disable a subscription; its pending deliveries end as failed' })
  @ApiNoContentResponse({ description: 'Disabled (again: no change).' })
  @ApiForbiddenResponse({ description: ACCESS })
  async disable(
    @CurrentPrincipal() principal: Principal,
    @Param({ schema: idParams }) params: { id: string },
    @RequestId() requestId: string | null,
  ): Promise<void> {
    await this.webhooks.disable({ principal, requestId }, params.id);
  }

  @Get(':id/deliveries')
  @ApiOperation({ summary: 'The delivery log: deliveries newest first, each with every HTTP attempt' })
  @ApiOkResponse({ standardSchema: deliveryPageResponse })
  async deliveries(
    @CurrentPrincipal() principal: Principal,
    @Param({ schema: idParams }) params: { id: string },
    @Query({ schema: listDeliveriesQuery }) query: ListDeliveriesQuery,
  ) {
    const page = await this.webhooks.deliveries(principal, params.id, query);
    return {
      items: page.items.map((item) => toDeliveryResponse(item.delivery, item.attempts)),
      nextCursor: page.nextCursor,
    };
  }
}

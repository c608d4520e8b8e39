import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Scopes } from '../auth/decorators.js';
import { capacityResponse } from './dto/capacity.response.js';
import { CapacityService } from './capacity.service.js';

@ApiTags('pool')
@ApiBearerAuth()
@Controller('v1/pool')
export class CapacityController {
  constructor(private readonly capacity: CapacityService) {}

  @Get('capacity')
  @Scopes('read', 'workloads:read')
  @ApiOperation({
    summary: 'Capacity per GPU model: total, in use, reserved, draining, down, free, queued demand',
    description:
      'Any signed-in user (and API tokens with the `read` or `workloads:read` scope). `reserved` is the ' +
      'GPUs of nodes under a reservation (whole servers on the capacity calendar) right now.',
  })
  @ApiOkResponse({ standardSchema: capacityResponse })
  get() {
    return this.capacity.capacity();
  }
}

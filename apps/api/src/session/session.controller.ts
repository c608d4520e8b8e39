import { Body, Controller, Get, HttpCode, HttpStatus, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, Public } from '../auth/decorators.js';
import type { Principal } from '../auth/principal.js';
import { loginRequest, type LoginRequest } from './dto/login.request.js';
import { SessionService } from './session.service.js';
import { RateLimitGroup } from '../rate-limit/rate-limit.decorators.js';

@ApiTags('auth')
@Controller('v1')
export class SessionController {
  constructor(private readonly sessions: SessionService) {}

  @Public()
  @RateLimitGroup('login')
  @Post('auth/login')
  @HttpCode(HttpStatus.OK)
  login(@Body({ schema: loginRequest }) body: LoginRequest) {
    return this.sessions.login(body.email, body.password);
  }

  @ApiBearerAuth()
  @Get('me')
  me(@CurrentPrincipal() principal: Principal) {
    return this.sessions.me(principal);
  }
}
